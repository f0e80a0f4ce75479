"""Node configuration: one TOML file validated into a frozen, typed ``NodeConfig``.

Every error names the file, the dotted key and what was expected, and unknown keys are errors
too (a typo in a security setting must not be silently ignored). Relative paths are resolved
against the directory of the config file, so a node directory can be moved as a whole.
"""

from __future__ import annotations

import difflib
import ipaddress
import resource
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mappings.contexts import FrozenDocumentLoader
from mappings.errors import MappingError
from mappings.sources.encoding import normalize_encoding

from .errors import ConfigError

_REQUIRED: Any = object()
ROLES = ("city", "agency", "provider", "authority")
DEFAULT_ALGORITHMS = ("ES256", "EdDSA")
KNOWN_ALGORITHMS = ("ES256", "ES384", "EdDSA")


def default_connection_cap() -> int:
    """Half the process's soft descriptor limit (at least 64): the default global connection
    cap of the HTTP and gRPC servers, so that a flood of connections leaves descriptors for
    the store, the peers and health probes."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65536
    return max(64, soft // 2)


@dataclass(frozen=True)
class GrpcConfig:
    listen: str = "127.0.0.1:0"
    max_message_bytes: int = 4 * 1024 * 1024
    insecure_dev: bool = False
    shutdown_grace_seconds: float = 2.0
    # A connection must finish its TLS/HTTP2 handshake within this; at most max_connections
    # open at once (0: half the process's descriptor limit).
    handshake_timeout_seconds: float = 10.0
    max_connections: int = 0


@dataclass(frozen=True)
class HttpConfig:
    enabled: bool = True
    listen: str = "127.0.0.1:0"
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 32
    max_page_size: int = 1000
    default_page_size: int = 20
    dev_open_read_on_loopback: bool = False
    # Development only: unauthenticated reads AND writes from 127.0.0.1/::1 (a standard NGSI-LD
    # client or test suite that sends no token). Refused unless [http] listen is a loopback host.
    dev_open_on_loopback: bool = False
    token_lifetime_seconds: int = 300
    # Connection limits (broker/api/connections.py): a request's headers must be complete
    # within header_timeout_seconds, its body within body_timeout_seconds; at most
    # max_connections_per_address from one client address and max_connections in all
    # (0: half the process's descriptor limit).
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    max_connections_per_address: int = 128
    max_connections: int = 0
    # A request (token check, body, work, federated reads) taking longer ends with 503.
    request_timeout_seconds: float = 60.0
    # CIDRs that subscriptions may notify although they are not public addresses (loopback,
    # private, link-local...): empty, notifications only go to public addresses.
    notification_allow: tuple[str, ...] = ()
    # PEM certificate (chain) and key: the API speaks HTTPS. Without them it speaks plain HTTP
    # (loopback, or behind a TLS proxy) and warns at start when it listens beyond loopback.
    tls_cert: Path | None = None
    tls_key: Path | None = None


@dataclass(frozen=True)
class ConsoleConfig:
    """The operator console at ``/console`` on the HTTP port (``broker.console``)."""

    enabled: bool = True
    # The console sends passwords and session cookies: on a non-loopback [http] listen it
    # starts only with [http] tls_cert/tls_key or a TLS-terminating proxy in front.
    behind_tls_proxy: bool = False
    session_seconds: int = 8 * 3600
    # Failed sign-ins of one operator name per 5 minutes before further tries are refused.
    max_failed_logins: int = 10


@dataclass(frozen=True)
class TrustConfig:
    authority_jwk: Path
    authority_endpoint: str = ""
    authority_tls_fingerprint: str = ""
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway_seconds: int = 30
    token_lifetime_seconds: int = 60
    max_token_bytes: int = 4096
    directory_poll_seconds: int = 300
    # The audit log signs a checkpoint at least every this many entries; `renkei audit
    # verify` requires one at least that often (a longer gap means deleted checkpoints).
    audit_checkpoint_every: int = 100
    # Checkpoints this node, as a witness, takes from one member per minute (each costs a
    # signature and proof check and a stored row); the log's submitter sends only its newest,
    # so a refused one is covered by the next.
    witness_checkpoints_per_minute: int = 60


@dataclass(frozen=True)
class StoreConfig:
    backend: str = "sqlite"
    path: Path | None = None
    dsn: str = ""
    schema: str = "public"


@dataclass(frozen=True)
class TemporalConfig:
    """``[temporal]``: the entity history behind the NGSI-LD temporal API."""

    record: bool = True  # every entity write (API, ingest) adds attribute instances
    max_instances_per_entity: int = 30  # per entity in one response; more: 206 + Content-Range
    retention_days: float = 365.0  # instances older than this are deleted (0: kept for ever)
    retention_days_by_type: Mapping[str, float] = field(default_factory=dict)  # overrides
    prune_interval_seconds: float = 3600.0


@dataclass(frozen=True)
class SourceConfig:
    name: str
    rules: str
    path: Path
    kind: str | None = None
    encoding: str | None = None  # a CSV file's declared encoding (detected when absent)


@dataclass(frozen=True)
class IngestConfig:
    """How a running node keeps its ``[[sources]]`` ingested (``[ingest]``)."""

    # Seconds between looks at each source's data and rule files; a changed file (stable for
    # one look) is ingested again, so a fixed file needs no restart. 0: ingest once at start.
    watch_seconds: float = 10.0
    # A long ingest logs how far it is (percent, rows, rate, time left) this often.
    progress_seconds: float = 10.0


@dataclass(frozen=True)
class SubscriptionConfig:
    """A peer's changes this node follows into its mirror (``[[subscriptions]]``)."""

    peer: str
    types: tuple[str, ...]
    purpose: str
    agreement: str = ""
    name: str = ""
    heartbeat_seconds: int = 15


@dataclass(frozen=True)
class FederationConfig:
    deadline_seconds: float = 10.0
    per_peer_concurrency: int = 4
    hop_limit: int = 3
    batch_size: int = 256
    backoff_min_seconds: float = 1.0
    backoff_multiplier: float = 2.0
    backoff_max_seconds: float = 300.0
    backoff_jitter: float = 0.2
    # While a peer is backed off, its gRPC health service is asked this often; an answer
    # clears the backoff at once.
    probe_seconds: float = 1.0
    # Add the aggregates of this node's own providers (agreements with onward_sharing) when
    # answering an aggregate: an agency aggregating for another agency.
    forward_aggregates: bool = False
    # Entities the provider keeps pre-serialized in memory for fast streaming (0: never).
    index_max_entities: int = 200_000
    max_streams_per_peer: int = 16
    # A stream whose reader has not taken a message for this long is ended (its slot freed).
    stream_stall_seconds: float = 30.0
    # Refused calls a member may make per minute (any reason, with or without an agreement)
    # before its calls are refused as rate_limited without being decided (issue 12).
    refused_calls_per_minute: int = 60
    # Calls in flight at once over all peers (a national fan-out asks 1,741 cities): the rest
    # wait for a slot within the same deadline, so connections and memory stay bounded.
    max_concurrent_calls: int = 256
    # A peer's channel closes its connection after this long without a call (reopened on
    # the next call; the certificate pin is kept).
    idle_channel_seconds: float = 120.0


@dataclass(frozen=True)
class TelemetryConfig:
    """``[telemetry]``: OpenTelemetry traces over OTLP/HTTP (off unless ``enabled``).

    The service name is always the member id, so it is not configurable here.
    """

    enabled: bool = False
    endpoint: str = "http://127.0.0.1:4318/v1/traces"  # an OTLP/HTTP traces URL
    sampling_ratio: float = 1.0  # of trace ids this node records, whatever callers ask


@dataclass(frozen=True)
class NodeConfig:
    """Everything a node needs, validated once at start."""

    file: Path
    id: str
    role: str
    data_dir: Path
    # Every node pins the authority's key: a config without [trust] does not load.
    trust: TrustConfig
    name_ja: str = ""
    name_en: str = ""
    license: str = "CC-BY-4.0"
    grpc: GrpcConfig = field(default_factory=GrpcConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    sources: tuple[SourceConfig, ...] = ()
    ingest: IngestConfig = field(default_factory=IngestConfig)
    contexts: Mapping[str, Path] = field(default_factory=dict)
    subscriptions: tuple[SubscriptionConfig, ...] = ()
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)

    @property
    def key_path(self) -> Path:
        return self.data_dir / "node.key"

    @property
    def cert_path(self) -> Path:
        return self.data_dir / "tls.crt"

    @property
    def tls_key_path(self) -> Path:
        return self.data_dir / "tls.key"

    @property
    def sqlite_path(self) -> Path:
        return self.store.path or (self.data_dir / "renkei.db")


class _Section:
    """Typed reads from one TOML table, with errors naming file and dotted key."""

    def __init__(self, file: Path, data: Mapping[str, Any], prefix: str = "") -> None:
        self.file = file
        self.data = data
        self.prefix = prefix
        self._seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def error(self, key: str, expected: str) -> ConfigError:
        return ConfigError(str(self.file), self._key(key), expected)

    def _get(self, key: str, default: Any) -> Any:
        self._seen.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise self.error(key, "is required but missing")
            return default
        return self.data[key]

    def text(self, key: str, default: Any = _REQUIRED, choices: tuple[str, ...] = ()) -> Any:
        value = self._get(key, default)
        if value is default and default is not _REQUIRED:
            return value
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {type(value).__name__}")
        if choices and value not in choices:
            raise self.error(key, f"expected one of {', '.join(choices)}, got '{value}'")
        return value

    def integer(self, key: str, default: Any = _REQUIRED, minimum: int = 0) -> Any:
        value = self._get(key, default)
        if value is default and default is not _REQUIRED:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {type(value).__name__}")
        if value < minimum:
            raise self.error(key, f"expected an integer >= {minimum}, got {value}")
        return value

    def number(self, key: str, default: Any = _REQUIRED, minimum: float = 0.0) -> Any:
        value = self._get(key, default)
        if value is default and default is not _REQUIRED:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {type(value).__name__}")
        if value < minimum:
            raise self.error(key, f"expected a number >= {minimum}, got {value}")
        return float(value)

    def flag(self, key: str, default: Any = _REQUIRED) -> Any:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def strings(self, key: str, default: Any = _REQUIRED) -> Any:
        value = self._get(key, default)
        if value is default and default is not _REQUIRED:
            return value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, "expected a list of strings")
        return tuple(value)

    def path(self, key: str, default: Any = _REQUIRED) -> Any:
        value = self.text(key, default)
        return None if value is None else resolve_path(self.file, value)

    def table(self, key: str) -> _Section:
        value = self._get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, "expected a table")
        return _Section(self.file, value, f"{self._key(key)}.")

    def done(self) -> None:
        unknown = sorted(set(self.data) - self._seen)
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(self._seen), n=1, cutoff=0.7)
            hint = f"; did you mean '{self._key(close[0])}'?" if close else ""
            raise self.error(unknown[0], f"unknown key (check the spelling){hint}")


def resolve_path(config_file: Path, value: str) -> Path:
    """Resolve ``value`` relative to the directory holding ``config_file``."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (config_file.parent / path).resolve()


def load_config(path: str | Path) -> NodeConfig:
    """Read and validate a node config file; raise ``ConfigError`` naming file and key."""
    file = Path(path).resolve()
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(file), "(file)", "file does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(file), "(syntax)", f"not valid TOML: {exc}") from None
    return parse_config(file, raw)


def parse_config(file: Path, raw: Mapping[str, Any]) -> NodeConfig:
    """Validate an already-parsed TOML document (``file`` is used for messages and paths)."""
    top = _Section(file, raw)
    node = top.table("node")
    node_id = node.text("id")
    if not node_id or len(node_id) > 64 or not all(c.isalnum() or c in "-_." for c in node_id):
        raise node.error("id", "expected 1-64 characters of letters, digits, '-', '_' or '.'")
    role = node.text("role", choices=ROLES)
    data_dir = node.path("data_dir", ".")
    name_ja = node.text("name_ja", "")
    name_en = node.text("name_en", "")
    license_name = node.text("license", "CC-BY-4.0")
    node.done()

    g = top.table("grpc")
    grpc = GrpcConfig(
        listen=_listen(g, "listen", GrpcConfig.listen),
        max_message_bytes=g.integer("max_message_bytes", GrpcConfig.max_message_bytes,
                                    minimum=1024),
        insecure_dev=g.flag("insecure_dev", False),
        shutdown_grace_seconds=g.number("shutdown_grace_seconds", 2.0),
        handshake_timeout_seconds=g.number("handshake_timeout_seconds",
                                           GrpcConfig.handshake_timeout_seconds, minimum=0.1),
        max_connections=g.integer("max_connections", 0, minimum=0),
    )
    g.done()

    h = top.table("http")
    http = HttpConfig(
        enabled=h.flag("enabled", True),
        listen=_listen(h, "listen", HttpConfig.listen),
        max_body_bytes=h.integer("max_body_bytes", HttpConfig.max_body_bytes, minimum=1024),
        max_json_depth=h.integer("max_json_depth", HttpConfig.max_json_depth, minimum=4),
        max_page_size=h.integer("max_page_size", HttpConfig.max_page_size, minimum=1),
        default_page_size=h.integer("default_page_size", HttpConfig.default_page_size, minimum=1),
        dev_open_read_on_loopback=h.flag("dev_open_read_on_loopback", False),
        dev_open_on_loopback=h.flag("dev_open_on_loopback", False),
        token_lifetime_seconds=h.integer("token_lifetime_seconds", 300, minimum=10),
        header_timeout_seconds=h.number("header_timeout_seconds",
                                        HttpConfig.header_timeout_seconds, minimum=0.1),
        body_timeout_seconds=h.number("body_timeout_seconds", HttpConfig.body_timeout_seconds,
                                      minimum=0.1),
        max_connections_per_address=h.integer("max_connections_per_address",
                                              HttpConfig.max_connections_per_address,
                                              minimum=1),
        max_connections=h.integer("max_connections", 0, minimum=0),
        request_timeout_seconds=h.number("request_timeout_seconds",
                                         HttpConfig.request_timeout_seconds, minimum=0.1),
        notification_allow=_networks(h, "notification_allow"),
        tls_cert=h.path("tls_cert", None),
        tls_key=h.path("tls_key", None),
    )
    if http.dev_open_on_loopback and not _is_loopback_listen(http.listen):
        raise h.error("dev_open_on_loopback", "is only allowed when [http] listen is a loopback "
                                              f"address (127.0.0.1 or [::1]), not '{http.listen}'")
    if (http.tls_cert is None) != (http.tls_key is None):
        raise h.error("tls_key" if http.tls_key is None else "tls_cert",
                      "tls_cert and tls_key go together (a PEM certificate and its key)")
    for key, value in (("tls_cert", http.tls_cert), ("tls_key", http.tls_key)):
        if value is not None and not value.is_file():
            raise h.error(key, f"file {value} does not exist")
    h.done()
    console = _console(top, http)

    if "trust" not in raw:
        raise top.error("trust", "is required for a node (the pinned authority key)")
    t = top.table("trust")
    algorithms = t.strings("algorithms", DEFAULT_ALGORITHMS)
    bad = [a for a in algorithms if a not in KNOWN_ALGORITHMS]
    if bad or not algorithms:
        raise t.error("algorithms", f"expected a non-empty subset of {list(KNOWN_ALGORITHMS)}")
    lifetime = t.integer("token_lifetime_seconds", 60, minimum=5)
    if lifetime > 300:
        raise t.error("token_lifetime_seconds", "expected at most 300 (tokens live <= 5 min)")
    trust = TrustConfig(
        authority_jwk=t.path("authority_jwk"),
        authority_endpoint=t.text("authority_endpoint", ""),
        authority_tls_fingerprint=t.text("authority_tls_fingerprint", ""),
        algorithms=algorithms,
        leeway_seconds=t.integer("leeway_seconds", 30),
        token_lifetime_seconds=lifetime,
        max_token_bytes=t.integer("max_token_bytes", 4096, minimum=512),
        directory_poll_seconds=t.integer("directory_poll_seconds", 300, minimum=1),
        audit_checkpoint_every=t.integer("audit_checkpoint_every", 100, minimum=1),
        witness_checkpoints_per_minute=t.integer(
            "witness_checkpoints_per_minute", TrustConfig.witness_checkpoints_per_minute,
            minimum=1),
    )
    t.done()

    s = top.table("store")
    backend = s.text("backend", "sqlite", choices=("sqlite", "postgresql"))
    store = StoreConfig(
        backend=backend,
        path=s.path("path", None),
        dsn=s.text("dsn", ""),
        schema=s.text("schema", "public"),
    )
    if backend == "postgresql" and not store.dsn:
        raise s.error("dsn", "is required when backend = \"postgresql\"")
    s.done()

    f = top.table("federation")
    federation = FederationConfig(
        deadline_seconds=f.number("deadline_seconds", 10.0, minimum=0.05),
        per_peer_concurrency=f.integer("per_peer_concurrency", 4, minimum=1),
        hop_limit=f.integer("hop_limit", 3, minimum=1),
        batch_size=f.integer("batch_size", 256, minimum=1),
        backoff_min_seconds=f.number("backoff_min_seconds", 1.0),
        backoff_multiplier=f.number("backoff_multiplier", 2.0, minimum=1.0),
        backoff_max_seconds=f.number("backoff_max_seconds", 300.0),
        backoff_jitter=f.number("backoff_jitter", 0.2),
        probe_seconds=f.number("probe_seconds", 1.0, minimum=0.05),
        forward_aggregates=f.flag("forward_aggregates", False),
        index_max_entities=f.integer("index_max_entities", 200_000),
        max_streams_per_peer=f.integer("max_streams_per_peer", 16, minimum=1),
        stream_stall_seconds=f.number("stream_stall_seconds", 30.0, minimum=0.1),
        refused_calls_per_minute=f.integer("refused_calls_per_minute",
                                           FederationConfig.refused_calls_per_minute,
                                           minimum=1),
        max_concurrent_calls=f.integer("max_concurrent_calls", 256, minimum=1),
        idle_channel_seconds=f.number("idle_channel_seconds", 120.0, minimum=1.0),
    )
    f.done()

    temporal = _temporal(top)
    sources = tuple(_sources(top))
    i = top.table("ingest")
    ingest = IngestConfig(
        watch_seconds=i.number("watch_seconds", IngestConfig.watch_seconds),
        progress_seconds=i.number("progress_seconds", IngestConfig.progress_seconds))
    i.done()
    contexts = _contexts(top)
    subscriptions = tuple(_subscriptions(top))
    telemetry = _telemetry(top)
    top.done()
    return NodeConfig(
        file=file, id=node_id, role=role, data_dir=data_dir, name_ja=name_ja, name_en=name_en,
        license=license_name,
        grpc=grpc, http=http, console=console, trust=trust, store=store, federation=federation,
        temporal=temporal, sources=sources, ingest=ingest, contexts=contexts,
        subscriptions=subscriptions, telemetry=telemetry,
    )


def _listen(section: _Section, key: str, default: str) -> str:
    value: str = section.text(key, default)
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise section.error(key, f"expected HOST:PORT (port 0 picks a free one), got '{value}'")
    return value


def _console(top: _Section, http: HttpConfig) -> ConsoleConfig:
    c = top.table("console")
    console = ConsoleConfig(
        enabled=c.flag("enabled", True),
        behind_tls_proxy=c.flag("behind_tls_proxy", False),
        session_seconds=c.integer("session_seconds", ConsoleConfig.session_seconds, minimum=60),
        max_failed_logins=c.integer("max_failed_logins", ConsoleConfig.max_failed_logins,
                                    minimum=1),
    )
    if (console.enabled and http.enabled and not console.behind_tls_proxy
            and http.tls_cert is None and not _is_loopback_listen(http.listen)):
        # Passwords and session cookies must not cross a network in clear text.
        raise c.error("enabled", f"the console would serve sign-ins over plain HTTP on "
                                 f"'{http.listen}': give [http] tls_cert and tls_key, set "
                                 "[console] behind_tls_proxy = true when a TLS-terminating "
                                 "proxy is in front, or enabled = false")
    c.done()
    return console


def _is_loopback_listen(listen: str) -> bool:
    host = listen.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _networks(section: _Section, key: str) -> tuple[str, ...]:
    values: tuple[str, ...] = section.strings(key, ())
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value, strict=False)))
        except ValueError:
            raise section.error(key, f"expected CIDRs such as \"127.0.0.0/8\", got "
                                     f"'{value}'") from None
    return tuple(out)


def _temporal(top: _Section) -> TemporalConfig:
    t = top.table("temporal")
    by_type = t.table("retention_days_by_type")
    retention = {name: by_type.number(name) for name in list(by_type.data)}
    by_type.done()
    config = TemporalConfig(
        record=t.flag("record", True),
        max_instances_per_entity=t.integer("max_instances_per_entity", 30, minimum=1),
        retention_days=t.number("retention_days", 365.0),
        retention_days_by_type=retention,
        prune_interval_seconds=t.number("prune_interval_seconds", 3600.0, minimum=1.0),
    )
    t.done()
    return config


def _telemetry(top: _Section) -> TelemetryConfig:
    t = top.table("telemetry")
    endpoint: str = t.text("endpoint", TelemetryConfig.endpoint)
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise t.error("endpoint", "expected an OTLP/HTTP traces URL such as "
                                  f"\"{TelemetryConfig.endpoint}\", got '{endpoint[:200]}'")
    if parts.username or parts.password:  # and so never echoed back in the message
        raise t.error("endpoint", "expected no credentials in the URL (a collector that needs "
                                  "them belongs behind a local agent)")
    ratio: float = t.number("sampling_ratio", 1.0)
    if ratio > 1.0:
        raise t.error("sampling_ratio", f"expected a number from 0 to 1, got {ratio}")
    config = TelemetryConfig(enabled=t.flag("enabled", False), endpoint=endpoint,
                             sampling_ratio=ratio)
    t.done()
    return config


def _sources(top: _Section) -> list[SourceConfig]:
    raw = top._get("sources", [])
    if not isinstance(raw, list):
        raise top.error("sources", "expected an array of tables ([[sources]])")
    out: list[SourceConfig] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise top.error(f"sources[{i}]", "expected a table")
        s = _Section(top.file, item, f"sources[{i}].")
        name = s.text("name")
        if not name or any(name == seen.name for seen in out):
            # The name keys the source's resume position, runs and quarantine in the store.
            raise s.error("name", f"expected a non-empty name no other source has, got "
                                  f"'{name}'")
        rules = s.text("rules")
        if not rules.startswith("bundled:"):
            rules = str(resolve_path(top.file, rules))  # like every path: from the config's dir
        encoding = s.text("encoding", None)
        if encoding is not None:
            try:
                normalize_encoding(encoding)
            except ValueError as exc:
                raise s.error("encoding", f"{exc}; leave it out to detect the encoding") \
                    from None
        out.append(SourceConfig(name=name, rules=rules, path=s.path("path"),
                                kind=s.text("kind", None), encoding=encoding))
        s.done()
    return out


def _subscriptions(top: _Section) -> list[SubscriptionConfig]:
    raw = top._get("subscriptions", [])
    if not isinstance(raw, list):
        raise top.error("subscriptions", "expected an array of tables ([[subscriptions]])")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise top.error(f"subscriptions[{i}]", "expected a table")
        s = _Section(top.file, item, f"subscriptions[{i}].")
        types = s.strings("types")
        if not types:
            raise s.error("types", "expected at least one entity type")
        out.append(SubscriptionConfig(
            peer=s.text("peer"), types=types, purpose=s.text("purpose"),
            agreement=s.text("agreement", ""), name=s.text("name", ""),
            heartbeat_seconds=s.integer("heartbeat_seconds", 15, minimum=1)))
        s.done()
    return out


def _contexts(top: _Section) -> dict[str, Path]:
    section = top.table("contexts")
    out: dict[str, Path] = {}
    for url in list(section.data):
        if not url.startswith(("http://", "https://")):
            raise section.error(url, "expected an http(s) context URL as key")
        out[url] = section.path(url)
        if not out[url].is_file():
            raise section.error(url, f"local copy {out[url]} does not exist")
        try:  # the API builds its loader from these at start: a bad copy fails here, by name
            FrozenDocumentLoader(extra={url: out[url]})
        except MappingError as exc:
            raise section.error(url, str(exc)) from None
    section.done()
    return out
