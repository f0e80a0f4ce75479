"""Test kit: a small federation with real keys (authority, two cities, an agency, a provider)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from trust.clock import ManualClock
from trust.directory import Directory, DirectoryHolder, Member, MemberKey, sign_directory
from trust.keys import NodeKey

T0 = 1_750_000_000  # 2025-06-15T15:06:40Z
NANAO, TAKAMATSU, AGENCY, PROVIDER = "jp-172022", "jp-372013", "jp-gov-cao", "jp-prov-acme"
NAMES = {
    NANAO: ("七尾市", "Nanao", "city"),
    TAKAMATSU: ("高松市", "Takamatsu", "city"),
    AGENCY: ("内閣府", "Cabinet Office", "agency"),
    PROVIDER: ("アクメ", "Acme Mobility", "provider"),
}
FINGERPRINT = {m: "sha256:" + format(i + 1, "x") * 64 for i, m in enumerate(NAMES)}

# Key generation is the slow part of a federation; share one set of keys per test session.
_KEYS: dict[str, NodeKey] = {}


def key_for(name: str, alg: str = "ES256") -> NodeKey:
    if name not in _KEYS:
        _KEYS[name] = NodeKey.generate(alg)
    return _KEYS[name]


@dataclass
class Federation:
    clock: ManualClock
    authority: NodeKey
    keys: dict[str, NodeKey]
    revoked_members: set[str] = field(default_factory=set)
    revoked_keys: set[str] = field(default_factory=set)
    extra_keys: dict[str, list[NodeKey]] = field(default_factory=dict)
    version: int = 0
    holder: DirectoryHolder | None = None

    def member(self, member_id: str) -> Member:
        ja, en, role = NAMES[member_id]
        keys = [self.keys[member_id], *self.extra_keys.get(member_id, [])]
        return Member(
            id=member_id, name_ja=ja, name_en=en, role=role,
            endpoints=(f"{member_id}.renkei.example:7443",),
            keys=tuple(
                MemberKey(kid=k.kid, jwk=k.public_jwk(), not_before=T0 - 86400,
                          not_after=T0 + 365 * 86400, revoked=k.kid in self.revoked_keys)
                for k in keys),
            tls_fingerprints=(FINGERPRINT[member_id],),
            revoked=member_id in self.revoked_members,
        )

    def directory(self, version: int | None = None, *, validity: int = 86400,
                  members: Iterable[str] | None = None) -> Directory:
        if version is None:
            self.version += 1
            version = self.version
        now = int(self.clock.now())
        return Directory.of(version, now, now + validity,
                            [self.member(m) for m in (members or self.keys)])

    def publish(self, version: int | None = None, **kw: object) -> str:
        return sign_directory(self.directory(version, **kw), self.authority)  # type: ignore[arg-type]

    def current(self) -> Directory:
        assert self.holder is not None
        return self.holder.current


def b64(data: bytes) -> str:
    """Unpadded base64url, written here so attack tokens do not depend on the code under test."""
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_es256(private_key: object, signing_input: bytes) -> bytes:
    """An ES256 signature (r || s, 64 bytes) made with ``cryptography`` directly."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    der = private_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))  # type: ignore[attr-defined]
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def craft(header: dict, claims: dict | bytes, *, key: NodeKey | None = None,
          signature: bytes | None = None) -> str:
    """Hand-build a compact JWS: JSON header and claims, ES256-signed by ``key`` or given bytes."""
    import json

    payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
    if signature is None:
        assert key is not None
        signature = raw_es256(key.private_key, signing_input.encode())
    return f"{signing_input}.{b64(signature)}"


NANAO_BBOX = [136.80, 36.95, 137.10, 37.20]


def make_agreement(**overrides: object):  # -> Agreement (import kept local for test speed)
    """A disaster-response agreement: Nanao provides evacuation data to the Cabinet Office."""
    from trust.agreements import Agreement, Area, RateLimits

    fields: dict = {
        "id": "agr-nanao-cao-1",
        "provider": NANAO,
        "consumer": AGENCY,
        "purpose": "disaster_response",
        "entity_types": frozenset({"EvacuationSite", "ShelterOccupancy"}),
        "attributes": {"EvacuationSite": {"name", "location", "capacity", "suitableFor"},
                       "ShelterOccupancy": {"occupancy", "refEvacuationSite"}},
        "area": Area(NANAO_BBOX),
        "not_before": T0 - 86400,
        "not_after": T0 + 90 * 86400,
        "freshness_seconds": 600,
        "rate_limits": RateLimits(requests_per_minute=60, entities_per_day=100_000),
        "aggregate_only": False,
        "k_threshold": 1,
        "onward_sharing": False,
        "retention_days": 30,
        "directory_version": 1,
    }
    fields.update(overrides)
    return Agreement(**fields)
