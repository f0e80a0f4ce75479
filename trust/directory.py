"""The signed federation member directory: model, signing, verification and the held copy.

The authority publishes the directory as a compact JWS over the RFC 8785 canonical JSON of
:meth:`Directory.to_document`. A node accepts a directory only if

- the signature verifies against the authority key pinned at install (no other key, ever);
- the signed bytes are canonical (so every node hashes the same document);
- its version is not older than the one held (rollback), and a *different* document with the
  held version is refused too (``directory_conflict``: the authority never reuses a version);
- it is not past its ``next_update`` time and not issued in the future.

Revocation is expressed in the document (``revoked`` on a member or a key) rather than by
deleting entries, so verifiers can say *why* a key is refused; it takes effect when a node
accepts the next version. Keys carry validity windows; rotation is a new key whose window
overlaps the old one's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from trust import _doc
from trust.canonical import canonical_bytes, loads_strict, sha256_hex
from trust.errors import AuthenticationError, DirectoryError, DocumentError, KeyMaterialError
from trust.jwk import SUPPORTED_ALGORITHMS, PublicKey, public_key_from_jwk
from trust.jws import verify_compact
from trust.keys import NodeKey

__all__ = [
    "DIRECTORY_TYP",
    "MAX_DIRECTORY_BYTES",
    "ROLES",
    "Directory",
    "DirectoryHolder",
    "Member",
    "MemberKey",
    "check_member_id",
    "sign_directory",
    "verify_directory",
]

DIRECTORY_TYP = "renkei-directory+jws"
_DOC_TYPE = "renkei-directory/v1"
MAX_DIRECTORY_BYTES = 8 << 20
ROLES = frozenset({"city", "agency", "provider"})
# Municipal-code style ids (jp-172022), agencies (jp-gov-cao), providers (jp-prov-acme).
_MEMBER_ID = re.compile(r"[a-z]{2}(?:-[a-z0-9]+){1,6}")
_FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")
_READ = _doc.Reader(DirectoryError, "invalid_directory")


def check_member_id(member_id: str, reader: _doc.Reader = _READ) -> str:
    """Return ``member_id`` if it is well formed (``jp-172022``, ``jp-gov-cao``), else raise.

    The error is ``reader``'s: ``DirectoryError("invalid_directory")`` unless the id is read as
    part of another document (an agreement).
    """
    if not isinstance(member_id, str) or len(member_id) > 64 or not _MEMBER_ID.fullmatch(
        member_id
    ):
        reader.fail(f"member id {str(member_id)[:64]!r} is not of the form jp-172022")
    return member_id


@dataclass(frozen=True)
class MemberKey:
    """One public key of a member with its validity window (epoch seconds, inclusive)."""

    kid: str
    jwk: Mapping[str, str]
    not_before: int
    not_after: int
    revoked: bool = False
    public_key: PublicKey = field(init=False, repr=False, compare=False)
    algorithm: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        key, alg = public_key_from_jwk(self.jwk)
        if self.jwk.get("kid", self.kid) != self.kid:
            raise KeyMaterialError("invalid_key", "JWK kid does not match the key entry")
        if self.not_after <= self.not_before:
            raise KeyMaterialError("invalid_key", f"key {self.kid} has an empty validity window")
        jwk = dict(self.jwk)
        jwk["kid"] = self.kid
        object.__setattr__(self, "jwk", MappingProxyType(jwk))
        object.__setattr__(self, "public_key", key)
        object.__setattr__(self, "algorithm", alg)

    def valid_at(self, t: float, leeway: float = 0.0) -> bool:
        """True if ``t`` lies in the key's validity window (widened by ``leeway``)."""
        return self.not_before - leeway <= t <= self.not_after + leeway

    def to_document(self) -> dict[str, Any]:
        return {
            "jwk": dict(self.jwk),
            "not_before": self.not_before,
            "not_after": self.not_after,
            "revoked": self.revoked,
        }

    @classmethod
    def from_document(cls, d: Any) -> MemberKey:
        d = _READ.obj(d, "key")
        _READ.keys(d, "key", required=("jwk", "not_before", "not_after", "revoked"))
        jwk = _READ.obj(d["jwk"], "key.jwk")
        kid = _READ.string(jwk, "kid", "key.jwk", max_len=128)
        try:
            return cls(
                kid=kid,
                jwk=dict(jwk),
                not_before=_READ.integer(d, "not_before", "key"),
                not_after=_READ.integer(d, "not_after", "key"),
                revoked=_READ.boolean(d, "revoked", "key"),
            )
        except KeyMaterialError as exc:
            _READ.fail(f"key {kid}: {exc.message}")


@dataclass(frozen=True)
class Member:
    """A federation member as the directory lists it."""

    id: str
    name_ja: str
    name_en: str
    role: str
    endpoints: tuple[str, ...] = ()
    keys: tuple[MemberKey, ...] = ()
    tls_fingerprints: tuple[str, ...] = ()
    revoked: bool = False
    _by_kid: Mapping[str, MemberKey] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_member_id(self.id)
        if self.role not in ROLES:
            _READ.fail(f"member {self.id}: role must be one of {sorted(ROLES)}")
        for fp in self.tls_fingerprints:
            if not _FINGERPRINT.fullmatch(fp):
                _READ.fail(f"member {self.id}: TLS fingerprint must be sha256:<64 hex>")
        by_kid = {k.kid: k for k in self.keys}
        if len(by_kid) != len(self.keys):
            _READ.fail(f"member {self.id}: duplicate key id")
        object.__setattr__(self, "endpoints", tuple(self.endpoints))
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "tls_fingerprints", tuple(self.tls_fingerprints))
        object.__setattr__(self, "_by_kid", MappingProxyType(by_kid))

    def key(self, kid: str) -> MemberKey | None:
        """The key with id ``kid``, revoked or not; ``None`` if the member has no such key."""
        return self._by_kid.get(kid)

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": {"ja": self.name_ja, "en": self.name_en},
            "role": self.role,
            "endpoints": list(self.endpoints),
            "keys": [k.to_document() for k in sorted(self.keys, key=lambda k: k.kid)],
            "tls_fingerprints": sorted(self.tls_fingerprints),
            "revoked": self.revoked,
        }

    @classmethod
    def from_document(cls, d: Any) -> Member:
        d = _READ.obj(d, "member")
        _READ.keys(d, "member", required=(
            "id", "name", "role", "endpoints", "keys", "tls_fingerprints", "revoked"))
        member_id = _READ.string(d, "id", "member", max_len=64)
        where = f"member {member_id}"
        name = _READ.obj(d["name"], f"{where}.name")
        _READ.keys(name, f"{where}.name", required=("ja", "en"))
        raw_keys = d["keys"]
        if not isinstance(raw_keys, list) or len(raw_keys) > 32:
            _READ.fail(f"{where}.keys must be a list of at most 32 keys")
        return cls(
            id=member_id,
            name_ja=_READ.string(name, "ja", f"{where}.name"),
            name_en=_READ.string(name, "en", f"{where}.name"),
            role=_READ.string(d, "role", where),
            endpoints=_READ.strings(d, "endpoints", where, max_items=16),
            keys=tuple(MemberKey.from_document(k) for k in raw_keys),
            tls_fingerprints=_READ.strings(d, "tls_fingerprints", where, max_items=16),
            revoked=_READ.boolean(d, "revoked", where),
        )


@dataclass(frozen=True)
class Directory:
    """One verified version of the member directory."""

    version: int
    issued_at: int
    next_update: int
    members: Mapping[str, Member]

    def __post_init__(self) -> None:
        members = dict(self.members)
        for member_id, member in members.items():
            if member.id != member_id:
                _READ.fail(f"member {member_id} is filed under another id")
        object.__setattr__(self, "members", MappingProxyType(members))

    @classmethod
    def of(cls, version: int, issued_at: int, next_update: int,
           members: Iterable[Member]) -> Directory:
        """Build a directory from a list of members (ids must be unique)."""
        listed = list(members)
        by_id = {m.id: m for m in listed}
        if len(by_id) != len(listed):
            _READ.fail("duplicate member id")
        return cls(version, issued_at, next_update, by_id)

    def member(self, member_id: str) -> Member | None:
        """The member with this id (possibly revoked), or ``None``."""
        return self.members.get(member_id)

    def signing_key(self, member_id: str, kid: str | None, now: float,
                    *, leeway: float = 0.0) -> MemberKey:
        """The key ``kid`` of ``member_id`` if it may sign at ``now``; else AuthenticationError.

        Codes: ``unknown_issuer``, ``member_revoked``, ``unknown_key`` (looked up only under
        this member), ``key_revoked``, ``key_not_valid`` (outside its window).
        """
        member = self.members.get(member_id)
        if member is None:
            raise AuthenticationError(
                "unknown_issuer", f"{member_id[:64]!r} is not a federation member")
        if member.revoked:
            raise AuthenticationError("member_revoked", f"member {member_id} has been revoked")
        key = member.key(kid) if kid is not None else None
        if key is None:
            raise AuthenticationError(
                "unknown_key", f"member {member_id} has no key {str(kid)[:64]!r}")
        if key.revoked:
            raise AuthenticationError("key_revoked", f"key {kid} of {member_id} is revoked")
        if not key.valid_at(now, leeway):
            raise AuthenticationError(
                "key_not_valid", f"key {kid} of {member_id} is outside its validity period")
        return key

    def is_stale(self, now: float) -> bool:
        """True once ``now`` is past ``next_update``: a newer directory should be fetched."""
        return now > self.next_update

    def to_document(self) -> dict[str, Any]:
        return {
            "type": _DOC_TYPE,
            "version": self.version,
            "issued_at": self.issued_at,
            "next_update": self.next_update,
            "members": [self.members[m].to_document() for m in sorted(self.members)],
        }

    @classmethod
    def from_document(cls, d: Any) -> Directory:
        """Parse a directory document; raises ``DirectoryError("invalid_directory")``."""
        d = _READ.obj(d, "directory")
        _READ.keys(d, "directory",
                   required=("type", "version", "issued_at", "next_update", "members"))
        if d["type"] != _DOC_TYPE:
            _READ.fail(f"directory.type must be {_DOC_TYPE!r}")
        raw = d["members"]
        if not isinstance(raw, list) or len(raw) > 10_000:
            _READ.fail("directory.members must be a list of at most 10000 members")
        directory = cls.of(
            version=_READ.integer(d, "version", "directory", minimum=1),
            issued_at=_READ.integer(d, "issued_at", "directory"),
            next_update=_READ.integer(d, "next_update", "directory"),
            members=(Member.from_document(m) for m in raw),
        )
        if directory.next_update <= directory.issued_at:
            raise DirectoryError("invalid_directory", "next_update must follow issued_at")
        return directory

    def canonical_bytes(self) -> bytes:
        """The RFC 8785 bytes the authority signs."""
        return canonical_bytes(self.to_document())


def sign_directory(directory: Directory, authority_key: NodeKey) -> str:
    """Sign ``directory`` with the authority key: a compact JWS over its canonical bytes."""
    return authority_key.sign_compact(directory.canonical_bytes(), DIRECTORY_TYP)


def _verified_document(jws: str, authority_jwk: Mapping[str, Any]) -> tuple[Directory, bytes]:
    try:
        payload = verify_compact(jws, authority_jwk, SUPPORTED_ALGORITHMS,
                                 max_bytes=MAX_DIRECTORY_BYTES, typ=DIRECTORY_TYP)
    except AuthenticationError as exc:
        if exc.code == "token_too_large":
            raise DirectoryError("directory_too_large") from exc
        if exc.code == "malformed_token":
            raise DirectoryError("invalid_directory", "directory is not a compact JWS") from exc
        # Wrong key, wrong algorithm, forbidden header, bad bytes: all mean "not the authority".
        raise DirectoryError("bad_signature") from exc
    try:
        document = loads_strict(payload, max_bytes=MAX_DIRECTORY_BYTES)
        canonical = canonical_bytes(document)
    except DocumentError as exc:
        raise DirectoryError("invalid_directory", exc.message) from exc
    if canonical != payload:
        raise DirectoryError("invalid_directory", "signed directory is not canonical JSON")
    return Directory.from_document(document), payload


def verify_directory(
    jws: str,
    authority_jwk: Mapping[str, Any],
    *,
    held_version: int = 0,
    now: float,
    leeway_seconds: float = 300.0,
    allow_expired: bool = False,
) -> Directory:
    """Verify a published directory against the pinned authority key.

    Refuses a bad signature (``bad_signature``), a version older than ``held_version``
    (``directory_rollback``), a directory past ``next_update`` (``directory_expired``, unless
    ``allow_expired`` — used only to restore a stored copy at start-up) and one issued in the
    future beyond ``leeway_seconds`` (``directory_not_yet_valid``).
    """
    directory, _ = _verified_document(jws, authority_jwk)
    _check_fresh(directory, held_version, now, leeway_seconds, allow_expired)
    return directory


def _check_fresh(directory: Directory, held_version: int, now: float, leeway: float,
                 allow_expired: bool) -> None:
    if directory.version < held_version:
        raise DirectoryError(
            "directory_rollback",
            f"directory version {directory.version} is older than held version {held_version}")
    if not allow_expired and now > directory.next_update:
        raise DirectoryError("directory_expired")
    if directory.issued_at > now + leeway:
        raise DirectoryError("directory_not_yet_valid")


class DirectoryHolder:
    """Holds the current verified directory of a node and accepts newer ones.

    Calling the holder returns the current directory, so ``holder`` itself can be passed where
    a ``Callable[[], Directory]`` is expected (``TokenVerifier``). ``min_version`` is the
    persisted high-water mark: a node that restarts must not accept anything older than what it
    had already seen, even if its stored copy was lost.
    """

    def __init__(self, authority_jwk: Mapping[str, Any], *, min_version: int = 0) -> None:
        public_key_from_jwk(authority_jwk)  # fail at construction on a bad pinned key
        self._authority_jwk = dict(authority_jwk)
        self._min_version = min_version
        self._current: Directory | None = None
        self._digest: str | None = None

    @property
    def current(self) -> Directory:
        """The held directory; ``DirectoryError("no_directory")`` before the first update."""
        if self._current is None:
            raise DirectoryError("no_directory")
        return self._current

    def __call__(self) -> Directory:
        return self.current

    @property
    def holds(self) -> bool:
        """Whether a verified directory is held (``current`` does not raise)."""
        return self._current is not None

    @property
    def version(self) -> int:
        """Version held (or the high-water mark if nothing is held yet)."""
        return self._current.version if self._current is not None else self._min_version

    def update(self, jws: str, now: float, *, allow_expired: bool = False) -> Directory:
        """Verify ``jws`` and make it current if it is newer; return the current directory.

        Re-presenting the held version with identical bytes is a no-op; different bytes under
        the held version raise ``directory_conflict``.
        """
        directory, payload = _verified_document(jws, self._authority_jwk)
        _check_fresh(directory, self.version, now, 300.0, allow_expired)
        digest = sha256_hex(payload)
        if self._current is not None and directory.version == self._current.version:
            if digest != self._digest:
                raise DirectoryError("directory_conflict")
            return self._current
        self._current, self._digest = directory, digest
        return directory
