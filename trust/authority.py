"""The federation authority: its key, the member registry, admission and publishing.

State lives in one directory of files, so the ``renkei authority`` CLI is a thin layer:

- ``authority.jwk`` — the authority's private key (mode 0600, never leaves the machine);
- ``members.json`` — the registry: every member as it will appear in the next directory, and
  the last published version (so versions only grow, across restarts);
- ``directory.jws`` — the last published, signed directory.

Joining: a node generates its key locally (``NodeKey.generate``) and sends a join request, a
JWS signed with that key over its own public JWK (:func:`make_join_request`). The signature is
proof of possession: whoever made the request holds the private key of the JWK it names. The
operator compares the key thumbprint shown by :meth:`Authority.inspect_join_request` with the
one the joining city reads out over an independent channel, then admits it.

One operator at a time: the files are replaced atomically but not locked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from trust import _doc
from trust.canonical import canonical_bytes, loads_strict
from trust.clock import Clock, SystemClock
from trust.directory import Directory, Member, MemberKey, sign_directory
from trust.errors import (
    AuthenticationError,
    AuthorityError,
    DirectoryError,
    DocumentError,
    KeyMaterialError,
)
from trust.jwk import SUPPORTED_ALGORITHMS, jwk_thumbprint, public_key_from_jwk
from trust.jws import parse_compact, verify_parsed
from trust.keys import NodeKey

__all__ = ["JOIN_TYP", "Authority", "JoinRequest", "make_join_request"]

JOIN_TYP = "renkei-join+jws"
_JOIN_DOC = "renkei-join-request/v1"
_REGISTRY_DOC = "renkei-authority-registry/v1"
_KEY_FILE, _REGISTRY_FILE, _DIRECTORY_FILE = "authority.jwk", "members.json", "directory.jws"
DEFAULT_KEY_VALIDITY = 2 * 365 * 86400
_JOIN_MAX_AGE = 7 * 86400
_MAX_JOIN_BYTES = 16384


@dataclass(frozen=True)
class JoinRequest:
    """A verified join request: who asks, with which key (``thumbprint`` for the operator)."""

    member_id: str
    name_ja: str
    name_en: str
    role: str
    endpoints: tuple[str, ...]
    jwk: Mapping[str, str]
    tls_fingerprint: str | None
    issued_at: int
    thumbprint: str


def make_join_request(
    member_id: str,
    name_ja: str,
    name_en: str,
    role: str,
    endpoints: Sequence[str],
    node_key: NodeKey,
    tls_fingerprint: str | None,
    *,
    now: float | None = None,
) -> str:
    """A join request for the authority, signed with the node's own key (proof of possession)."""
    issued = int(SystemClock().now() if now is None else now)
    document = {
        "type": _JOIN_DOC,
        "member_id": member_id,
        "name": {"ja": name_ja, "en": name_en},
        "role": role,
        "endpoints": list(endpoints),
        "jwk": node_key.public_jwk(),
        "tls_fingerprint": tls_fingerprint,
        "iat": issued,
    }
    return node_key.sign_compact(canonical_bytes(document), JOIN_TYP)


def _bad_join(why: str) -> AuthorityError:
    return AuthorityError("bad_join_request", f"join request: {why}")


_JOIN = _doc.Reader(AuthorityError, "bad_join_request")
_REGISTRY = _doc.Reader(AuthorityError, "invalid_member")


def _read_join_request(request: str, now: float) -> JoinRequest:
    try:
        parsed = parse_compact(request.strip(), max_bytes=_MAX_JOIN_BYTES,
                               algorithms=SUPPORTED_ALGORITHMS)
        if parsed.header.get("typ") != JOIN_TYP:
            raise _bad_join("not a join request")
        d = _JOIN.obj(loads_strict(parsed.payload, max_bytes=_MAX_JOIN_BYTES), "request")
        _JOIN.keys(d, "request", required=(
            "type", "member_id", "name", "role", "endpoints", "jwk", "tls_fingerprint", "iat"))
        if d["type"] != _JOIN_DOC:
            raise _bad_join("unknown document type")
        jwk = dict(_JOIN.obj(d["jwk"], "request.jwk"))
        key, alg = public_key_from_jwk(jwk)
        if parsed.kid != jwk.get("kid"):
            raise _bad_join("header kid differs from the key in the request")
        verify_parsed(parsed, key, alg)  # proof of possession of the private key
        name = _JOIN.obj(d["name"], "request.name")
        fingerprint = d["tls_fingerprint"]
        if fingerprint is not None and not isinstance(fingerprint, str):
            raise _bad_join("tls_fingerprint must be a string")
        issued_at = _JOIN.integer(d, "iat", "request")
    except (AuthenticationError, DocumentError, KeyMaterialError) as exc:
        raise _bad_join(exc.message) from exc
    if issued_at > now + 300 or issued_at < now - _JOIN_MAX_AGE:
        raise _bad_join("issued too long ago or in the future; make a new one")
    return JoinRequest(
        member_id=_JOIN.string(d, "member_id", "request", max_len=64),
        name_ja=_JOIN.string(name, "ja", "request.name"),
        name_en=_JOIN.string(name, "en", "request.name"),
        role=_JOIN.string(d, "role", "request"),
        endpoints=_JOIN.strings(d, "endpoints", "request", max_items=16),
        jwk=jwk,
        tls_fingerprint=fingerprint,
        issued_at=issued_at,
        thumbprint=jwk_thumbprint(jwk),
    )


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class Authority:
    """The federation authority, backed by a state directory (see the module docstring)."""

    def __init__(self, state_dir: Path, key: NodeKey, members: dict[str, Member],
                 published_version: int, clock: Clock) -> None:
        self._dir = state_dir
        self._key = key
        self._members = members
        self._published_version = published_version
        self._clock = clock

    # -- state -------------------------------------------------------------------------------

    @classmethod
    def init(cls, state_dir: str | os.PathLike[str], alg: str = "ES256", *,
             clock: Clock | None = None) -> Authority:
        """Create a new authority (key pair and empty registry) in ``state_dir``."""
        path = Path(state_dir)
        if (path / _KEY_FILE).exists() or (path / _REGISTRY_FILE).exists():
            raise AuthorityError("authority_exists", f"{path} already holds an authority")
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = NodeKey.generate(alg)
        key.save(path / _KEY_FILE)
        authority = cls(path, key, {}, 0, clock or SystemClock())
        authority._save()
        return authority

    @classmethod
    def open(cls, state_dir: str | os.PathLike[str], *, clock: Clock | None = None) -> Authority:
        """Open an existing authority state directory."""
        path = Path(state_dir)
        if not (path / _KEY_FILE).exists() or not (path / _REGISTRY_FILE).exists():
            raise AuthorityError("no_authority", f"{path} holds no authority")
        key = NodeKey.load(path / _KEY_FILE)
        try:
            d = _REGISTRY.obj(loads_strict((path / _REGISTRY_FILE).read_bytes(),
                                           max_bytes=64 << 20), "registry")
            _REGISTRY.keys(d, "registry", required=("type", "published_version", "members"))
            if d["type"] != _REGISTRY_DOC:
                _REGISTRY.fail("registry.type is unknown")
            if not isinstance(d["members"], list):
                _REGISTRY.fail("registry.members must be a list")
            members = [Member.from_document(m) for m in d["members"]]
            version = _REGISTRY.integer(d, "published_version", "registry")
        except AuthorityError as exc:
            raise AuthorityError("invalid_member", f"{_REGISTRY_FILE}: {exc.message}") from exc
        except (DirectoryError, DocumentError) as exc:
            raise AuthorityError("invalid_member", f"{_REGISTRY_FILE}: {exc.message}") from exc
        return cls(path, key, {m.id: m for m in members}, version, clock or SystemClock())

    def _save(self) -> None:
        document = {
            "type": _REGISTRY_DOC,
            "published_version": self._published_version,
            "members": [self._members[m].to_document() for m in sorted(self._members)],
        }
        _write_atomic(self._dir / _REGISTRY_FILE,
                      json.dumps(document, ensure_ascii=False, indent=1).encode() + b"\n")

    def public_jwk(self) -> dict[str, str]:
        """The authority's public JWK: what every node pins at install."""
        return self._key.public_jwk()

    @property
    def members(self) -> Mapping[str, Member]:
        """The registry as the next published directory will list it."""
        return dict(self._members)

    @property
    def published_version(self) -> int:
        return self._published_version

    def published(self) -> str | None:
        """The last published directory JWS, if any."""
        path = self._dir / _DIRECTORY_FILE
        return path.read_text(encoding="ascii") if path.exists() else None

    # -- registry changes (take effect at the next publish) ----------------------------------

    def _new_key(self, jwk: Mapping[str, Any], validity: int) -> MemberKey:
        now = int(self._clock.now())
        try:
            kid = jwk.get("kid") or jwk_thumbprint(jwk)
            return MemberKey(kid=str(kid), jwk=dict(jwk), not_before=now,
                             not_after=now + validity)
        except KeyMaterialError as exc:
            raise AuthorityError("invalid_member", exc.message) from exc

    def _store(self, member: Member) -> Member:
        self._members[member.id] = member
        self._save()
        return member

    def add_member(
        self,
        member_id: str,
        name_ja: str,
        name_en: str,
        role: str,
        endpoints: Sequence[str] = (),
        keys: Iterable[Mapping[str, Any]] = (),
        tls_fingerprints: Sequence[str] = (),
        *,
        key_validity_seconds: int = DEFAULT_KEY_VALIDITY,
    ) -> Member:
        """Register a member directly (public JWKs given by the operator)."""
        return self._store(self._build_member(
            member_id, name_ja, name_en, role, endpoints, keys, tls_fingerprints,
            key_validity_seconds))

    def add_members(self, entries: Iterable[Mapping[str, Any]]) -> list[Member]:
        """Register many members at once (enrolling a whole federation: 1,741
        municipalities), written once. Each entry holds ``add_member``'s arguments by name;
        nothing is registered if any entry is refused."""
        members: dict[str, Member] = {}
        for entry in entries:
            member = self._build_member(**entry)
            if member.id in members:
                raise AuthorityError("member_exists", f"member {member.id[:64]} listed twice")
            members[member.id] = member
        self._members.update(members)
        self._save()
        return list(members.values())

    def _build_member(
        self,
        member_id: str,
        name_ja: str,
        name_en: str,
        role: str,
        endpoints: Sequence[str] = (),
        keys: Iterable[Mapping[str, Any]] = (),
        tls_fingerprints: Sequence[str] = (),
        key_validity_seconds: int = DEFAULT_KEY_VALIDITY,
    ) -> Member:
        if member_id in self._members:
            raise AuthorityError("member_exists", f"member {member_id[:64]} already exists")
        try:
            return Member(
                id=member_id, name_ja=name_ja, name_en=name_en, role=role,
                endpoints=tuple(endpoints),
                keys=tuple(self._new_key(k, key_validity_seconds) for k in keys),
                tls_fingerprints=tuple(tls_fingerprints),
            )
        except DirectoryError as exc:
            raise AuthorityError("invalid_member", exc.message) from exc

    def inspect_join_request(self, join_request: str) -> JoinRequest:
        """Verify a join request (signature = proof of possession) without admitting it."""
        return _read_join_request(join_request, self._clock.now())

    def admit(self, join_request: str, *, rotation: bool = False,
              key_validity_seconds: int = DEFAULT_KEY_VALIDITY) -> Member:
        """Admit a verified join request.

        A new member is added with the request's key. For an existing member, ``rotation=True``
        adds the new key (and TLS fingerprint) next to the old ones, whose validity overlaps
        until they expire or are revoked; without it an existing id is refused.
        """
        request = self.inspect_join_request(join_request)
        key = self._new_key(request.jwk, key_validity_seconds)
        fingerprints = (request.tls_fingerprint,) if request.tls_fingerprint else ()
        existing = self._members.get(request.member_id)
        if existing is None:
            try:
                member = Member(
                    id=request.member_id, name_ja=request.name_ja, name_en=request.name_en,
                    role=request.role, endpoints=request.endpoints, keys=(key,),
                    tls_fingerprints=fingerprints,
                )
            except DirectoryError as exc:
                raise _bad_join(exc.message) from exc
            return self._store(member)
        if not rotation:
            raise AuthorityError("member_exists",
                                 f"member {existing.id} exists; admit as a key rotation")
        if existing.revoked:
            raise _bad_join(f"member {existing.id} is revoked")
        if existing.key(key.kid) is not None:
            raise _bad_join(f"member {existing.id} already has key {key.kid}")
        new_fps = existing.tls_fingerprints + tuple(
            f for f in fingerprints if f not in existing.tls_fingerprints)
        try:
            rotated = replace(existing, keys=existing.keys + (key,), tls_fingerprints=new_fps,
                              endpoints=request.endpoints)
        except DirectoryError as exc:
            raise _bad_join(exc.message) from exc
        return self._store(rotated)

    def _member(self, member_id: str) -> Member:
        member = self._members.get(member_id)
        if member is None:
            raise AuthorityError("unknown_member", f"no member {member_id[:64]!r}")
        return member

    def _replace_key(self, member: Member, kid: str, **changes: Any) -> Member:
        if member.key(kid) is None:
            raise AuthorityError("unknown_key", f"member {member.id} has no key {kid[:64]!r}")
        keys = tuple(replace(k, **changes) if k.kid == kid else k for k in member.keys)
        return self._store(replace(member, keys=keys))

    def revoke(self, member_id: str, kid: str | None = None) -> Member:
        """Revoke a whole member, or one of its keys; effective from the next published version."""
        member = self._member(member_id)
        if kid is None:
            return self._store(replace(member, revoked=True))
        return self._replace_key(member, kid, revoked=True)

    def retire_key(self, member_id: str, kid: str, not_after: int) -> Member:
        """End a key's validity at ``not_after`` (the tail of a rotation overlap)."""
        member = self._member(member_id)
        key = member.key(kid)
        if key is not None and not_after <= key.not_before:
            raise AuthorityError("invalid_member", "not_after must follow the key's not_before")
        return self._replace_key(member, kid, not_after=int(not_after))

    def update_endpoints(self, member_id: str, endpoints: Sequence[str],
                         tls_fingerprints: Sequence[str] | None = None) -> Member:
        """Change a member's endpoints (and, optionally, its pinned TLS fingerprints)."""
        member = self._member(member_id)
        try:
            changed = replace(member, endpoints=tuple(endpoints),
                              tls_fingerprints=tuple(tls_fingerprints)
                              if tls_fingerprints is not None else member.tls_fingerprints)
        except DirectoryError as exc:
            raise AuthorityError("invalid_member", exc.message) from exc
        return self._store(changed)

    # -- publishing ----------------------------------------------------------------------------

    def publish(self, now: float | None = None, validity_seconds: int = 86400) -> str:
        """Sign and write the next directory version; returns the JWS.

        Versions only grow: each publish is ``published_version + 1``, persisted before the
        directory file is written, so a crash cannot make a version number be reused.
        """
        if validity_seconds <= 0:
            raise AuthorityError("invalid_member", "validity_seconds must be positive")
        issued = int(self._clock.now() if now is None else now)
        directory = Directory(
            version=self._published_version + 1,
            issued_at=issued,
            next_update=issued + int(validity_seconds),
            members=dict(self._members),
        )
        jws = sign_directory(directory, self._key)
        self._published_version = directory.version
        self._save()
        _write_atomic(self._dir / _DIRECTORY_FILE, jws.encode("ascii"))
        return jws
