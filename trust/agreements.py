"""Data-sharing agreements: the model, both parties' signatures, revocation and state.

Both parties sign the same RFC 8785 bytes (:meth:`Agreement.canonical_bytes`) as compact JWS
with the key the directory lists for them; the JWS header carries ``iat``, the signing time,
and the key must have been valid then. So routine key rotation does not void an agreement,
while revoking the key or the member does (the signature stops counting).

States: ``proposed`` (fewer than two valid signatures) → ``active`` (provider and consumer
signatures both verify) → ``revoked`` (a revocation signed by either party is attached) or
``expired`` (past ``not_after``). A revocation is verified with any key the party ever had in
the directory, revoked keys included: revoking can only take access away, so an old key is
good enough, and it means a later key rotation cannot resurrect a revoked agreement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

from trust import _doc
from trust.agreement_model import (
    ALWAYS_ALLOWED,
    MAX_AGREEMENT_BYTES,
    OPERATIONS,
    PURPOSES,
    RAW_OPERATIONS,
    Agreement,
    RateLimits,
)
from trust.canonical import canonical_bytes, loads_strict
from trust.clock import SystemClock
from trust.directory import Directory
from trust.errors import AgreementError, AuthenticationError, DocumentError
from trust.geo import Area
from trust.jwk import SUPPORTED_ALGORITHMS
from trust.jws import parse_compact, verify_parsed
from trust.keys import NodeKey

__all__ = [
    "ALWAYS_ALLOWED",
    "OPERATIONS",
    "PURPOSES",
    "RAW_OPERATIONS",
    "Agreement",
    "AgreementState",
    "Area",
    "RateLimits",
    "Revocation",
    "SignedAgreement",
    "agreement_state",
    "attach_revocation",
    "revoke_agreement",
    "sign_agreement",
    "tampered_signatures",
    "verify_revocation",
    "verify_signature",
]

AGREEMENT_TYP = "renkei-agreement+jws"
REVOCATION_TYP = "renkei-agreement-revocation+jws"
_REVOCATION_DOC = "renkei-agreement-revocation/v1"
_MAX_SIGNATURE = 8192
_SIGNED = _doc.Reader(AgreementError, "invalid_agreement")
_REVOKE = _doc.Reader(AgreementError, "invalid_revocation")
AgreementState = Literal["proposed", "active", "revoked", "expired"]


@dataclass(frozen=True)
class SignedAgreement:
    """An agreement with the signatures collected so far and an optional revocation (JWS)."""

    agreement: Agreement
    signatures: Mapping[str, str] = field(default_factory=dict)
    revocation: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "signatures", MappingProxyType(dict(self.signatures)))

    def to_document(self) -> dict[str, Any]:
        """Storage form: the agreement document, signatures by member id, revocation."""
        return {"agreement": self.agreement.to_document(),
                "signatures": dict(self.signatures), "revocation": self.revocation}

    @classmethod
    def from_document(cls, d: Any) -> SignedAgreement:
        d = _SIGNED.obj(d, "signed agreement")
        _SIGNED.keys(d, "signed agreement", required=("agreement", "signatures", "revocation"))
        signatures = _SIGNED.obj(d["signatures"], "signatures")
        for member_id, jws in signatures.items():
            if not isinstance(jws, str) or len(jws) > _MAX_SIGNATURE:
                _SIGNED.fail(f"signature of {member_id[:64]} is not a JWS string")
        revocation = d["revocation"]
        if revocation is not None and not isinstance(revocation, str):
            _SIGNED.fail("revocation must be a JWS string or null")
        return cls(Agreement.from_document(d["agreement"]), dict(signatures), revocation)

    @classmethod
    def from_json(cls, data: bytes | str) -> SignedAgreement:
        try:
            return cls.from_document(loads_strict(data, max_bytes=MAX_AGREEMENT_BYTES + 65536))
        except DocumentError as exc:
            raise AgreementError("invalid_agreement", exc.message) from exc


def sign_agreement(signed_or_agreement: SignedAgreement | Agreement, member_id: str,
                   key: NodeKey, *, now: float | None = None) -> SignedAgreement:
    """Add ``member_id``'s signature (made with ``key``) over the canonical agreement bytes."""
    signed = (signed_or_agreement if isinstance(signed_or_agreement, SignedAgreement)
              else SignedAgreement(signed_or_agreement))
    agreement = signed.agreement
    if member_id not in (agreement.provider, agreement.consumer):
        raise AgreementError("not_a_party", f"{member_id[:64]} is not a party to {agreement.id}")
    signed_at = int(SystemClock().now() if now is None else now)
    jws = key.sign_compact(agreement.canonical_bytes(), AGREEMENT_TYP,
                           extra_headers={"iat": signed_at})
    return replace(signed, signatures={**signed.signatures, member_id: jws})


def verify_signature(signed: SignedAgreement, member_id: str, directory: Directory, *,
                     now: float | None = None) -> None:
    """Check ``member_id``'s signature on the agreement; raises ``AgreementError``.

    The signature must cover exactly the canonical bytes, be made with a key the directory lists
    for that member (member and key not revoked), and the key must have been valid at the
    signing time the header names (which, given ``now``, must not lie in the future).
    """
    agreement = signed.agreement
    if member_id not in (agreement.provider, agreement.consumer):
        raise AgreementError("not_a_party", f"{member_id[:64]} is not a party to {agreement.id}")
    jws = signed.signatures.get(member_id)
    if jws is None:
        raise AgreementError("bad_signature", f"no signature by {member_id}")
    try:
        parsed = parse_compact(jws, max_bytes=MAX_AGREEMENT_BYTES * 2,
                               algorithms=SUPPORTED_ALGORITHMS)
        if parsed.header.get("typ") != AGREEMENT_TYP:
            raise AgreementError("bad_signature", "not an agreement signature")
        signed_at = parsed.header.get("iat")
        if isinstance(signed_at, bool) or not isinstance(signed_at, int):
            raise AgreementError("bad_signature", "signature lacks its signing time")
        if now is not None and signed_at > now + 300:
            raise AgreementError("bad_signature", f"signature by {member_id} is dated ahead")
        key = directory.signing_key(member_id, parsed.kid, signed_at)
        if parsed.payload != agreement.canonical_bytes():
            raise AgreementError("bad_signature", f"{member_id} signed a different document")
        verify_parsed(parsed, key.public_key, key.algorithm)
    except AuthenticationError as exc:
        raise AgreementError("bad_signature", f"signature by {member_id}: {exc.message}") from exc


def tampered_signatures(signed: SignedAgreement) -> dict[str, str]:
    """Party -> why: the signatures present that do not cover these exact terms.

    A signature over other bytes (or one that is not a readable JWS) means the stored terms
    were changed after signing: the agreement is damaged, not merely ``proposed``. No key is
    needed to tell, so this holds whatever the directory says about the signer's keys.
    """
    out: dict[str, str] = {}
    for member_id, jws in sorted(signed.signatures.items()):
        try:
            parsed = parse_compact(jws, max_bytes=MAX_AGREEMENT_BYTES * 2,
                                   algorithms=SUPPORTED_ALGORITHMS)
        except AuthenticationError as exc:
            out[member_id] = f"the signature of {member_id[:64]} is unreadable ({exc.message})"
            continue
        if parsed.payload != signed.agreement.canonical_bytes():
            out[member_id] = f"the terms differ from what {member_id[:64]} signed"
    return out


@dataclass(frozen=True)
class Revocation:
    """A verified revocation of one agreement by one of its parties."""

    agreement_id: str
    agreement_digest: str
    revoked_by: str
    revoked_at: int
    reason: str


def revoke_agreement(signed_or_agreement: SignedAgreement | Agreement, member_id: str,
                     key: NodeKey, *, now: float, reason: str = "") -> str:
    """A revocation object (compact JWS) for the agreement, signed by one of its parties."""
    agreement = (signed_or_agreement.agreement
                 if isinstance(signed_or_agreement, SignedAgreement) else signed_or_agreement)
    if member_id not in (agreement.provider, agreement.consumer):
        raise AgreementError("not_a_party", f"{member_id[:64]} is not a party to {agreement.id}")
    document = {
        "type": _REVOCATION_DOC,
        "agreement_id": agreement.id,
        "agreement_digest": agreement.digest(),
        "revoked_by": member_id,
        "revoked_at": int(now),
        "reason": reason[:500],
    }
    return key.sign_compact(canonical_bytes(document), REVOCATION_TYP)


def verify_revocation(jws: str, signed_or_agreement: SignedAgreement | Agreement,
                      directory: Directory) -> Revocation:
    """Verify a revocation of this exact agreement by one of its parties."""
    agreement = (signed_or_agreement.agreement
                 if isinstance(signed_or_agreement, SignedAgreement) else signed_or_agreement)
    try:
        parsed = parse_compact(jws, max_bytes=_MAX_SIGNATURE, algorithms=SUPPORTED_ALGORITHMS)
        d = _REVOKE.obj(loads_strict(parsed.payload, max_bytes=_MAX_SIGNATURE), "revocation")
        _REVOKE.keys(d, "revocation", required=(
            "type", "agreement_id", "agreement_digest", "revoked_by", "revoked_at", "reason"))
        if d["type"] != _REVOCATION_DOC or parsed.header.get("typ") != REVOCATION_TYP:
            _REVOKE.fail("not an agreement revocation")
        revocation = Revocation(
            agreement_id=_REVOKE.string(d, "agreement_id", "revocation", max_len=128),
            agreement_digest=_REVOKE.string(d, "agreement_digest", "revocation", max_len=64),
            revoked_by=_REVOKE.string(d, "revoked_by", "revocation", max_len=64),
            revoked_at=_REVOKE.integer(d, "revoked_at", "revocation"),
            reason=_REVOKE.string(d, "reason", "revocation", max_len=500, allow_empty=True),
        )
        if (revocation.agreement_id != agreement.id
                or revocation.agreement_digest != agreement.digest()):
            _REVOKE.fail("revocation names another agreement")
        if revocation.revoked_by not in (agreement.provider, agreement.consumer):
            _REVOKE.fail("revocation is not by a party to the agreement")
        member = directory.member(revocation.revoked_by)
        key = member.key(parsed.kid) if member is not None and parsed.kid else None
        if key is None:
            _REVOKE.fail("revocation key is not in the directory")
        verify_parsed(parsed, key.public_key, key.algorithm)
    except (DocumentError, AuthenticationError) as exc:
        raise AgreementError("invalid_revocation", exc.message) from exc
    return revocation


def attach_revocation(signed: SignedAgreement, jws: str,
                      directory: Directory) -> SignedAgreement:
    """Verify ``jws`` and return the agreement with the revocation attached."""
    verify_revocation(jws, signed, directory)
    return replace(signed, revocation=jws)


def agreement_state(signed: SignedAgreement, directory: Directory,
                    now: float) -> AgreementState:
    """``revoked``, ``expired``, ``active`` (both signatures verify) or ``proposed``.

    An attached revocation that does not verify still yields ``revoked``: storage only ever
    holds verified revocations (:func:`attach_revocation`), so a bad one means corruption,
    and failing closed is the safe reading.
    """
    if signed.revocation is not None:
        return "revoked"
    agreement = signed.agreement
    if now > agreement.not_after:
        return "expired"
    if agreement.directory_version > directory.version:
        return "proposed"
    for party in (agreement.provider, agreement.consumer):
        try:
            verify_signature(signed, party, directory, now=now)
        except AgreementError:
            return "proposed"
    return "active"
