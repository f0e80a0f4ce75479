"""The trust error tree: one root, a few categories, stable string codes.

Every error carries ``.code`` (stable, snake_case, part of the wire contract) and a message safe
to show a peer (``str(err)``): it names public things only (member ids, key ids, agreement ids,
limits) and never key material, tokens or internal paths. Transports map errors to status codes
by walking the MRO, so a category is what decides the status; the code is what clients match on.

::

    TrustError
    ├── AuthenticationError      → UNAUTHENTICATED / 401
    │     token_expired · token_not_yet_valid · lifetime_too_long · unknown_key · key_not_valid
    │     bad_signature · replayed · audience_mismatch · issuer_mismatch · unknown_issuer
    │     algorithm_not_allowed · header_not_allowed · token_too_large · malformed_token
    │     member_revoked · key_revoked
    ├── PolicyDenied             → PERMISSION_DENIED / 403
    │   │ no_agreement · agreement_ambiguous · agreement_not_active · purpose_not_allowed
    │   │ type_not_allowed · field_not_allowed · outside_area · aggregate_only
    │   │ below_k_threshold · differencing_suspected · differencing_memory_full
    │   │ operation_not_allowed
    │   └── RateLimited          → RESOURCE_EXHAUSTED / 429
    │         rate_limited  (``.retry_after`` seconds)
    ├── DirectoryError
    │     directory_rollback · directory_conflict · directory_expired · directory_not_yet_valid
    │     bad_signature · invalid_directory · directory_too_large · no_directory
    ├── AgreementError
    │     invalid_agreement · agreement_too_large · bad_signature · not_a_party
    │     invalid_revocation
    ├── AuditError
    │     invalid_audit_entry · bad_checkpoint · bad_receipt · receipt_mismatch · bad_proof
    │     malformed_note · bad_note_signature · untrusted_note · bad_cosignature
    │     bad_witness_key
    ├── WitnessError             (a witness refusing a checkpoint; C2SP tlog-witness statuses)
    │     unknown_log (404) · untrusted_checkpoint (403) · invalid_request (400)
    │     size_conflict (409, ``.known_size``) · root_conflict (409) · inconsistent_tree (422)
    ├── KeyMaterialError
    │     invalid_key · unsupported_algorithm · key_file_insecure · key_file_exists
    ├── AuthorityError
    │     authority_exists · no_authority · unknown_member · unknown_key · member_exists
    │     invalid_member · bad_join_request
    ├── DocumentError
    │     invalid_document · document_too_large
    ├── GeometryError
    │     invalid_area · invalid_geometry · invalid_filter
    └── InvalidArgument
          invalid_setting · invalid_argument

A code may appear under more than one category (``bad_signature``): the category tells what was
being verified, the code what went wrong.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AgreementError",
    "AuditError",
    "AuthenticationError",
    "AuthorityError",
    "DirectoryError",
    "DocumentError",
    "GeometryError",
    "InvalidArgument",
    "KeyMaterialError",
    "PolicyDenied",
    "RateLimited",
    "TrustError",
    "WitnessError",
]


class TrustError(Exception):
    """Root of every error raised by ``trust``.

    Subclasses list the codes they may carry in ``codes`` and a default peer-safe message for
    each; constructing an error with a code its category does not own is a programming error.
    """

    codes: ClassVar[dict[str, str]] = {}

    def __init__(self, code: str, message: str | None = None) -> None:
        if code not in self.codes:
            raise ValueError(f"{type(self).__name__} has no code {code!r}")
        self.code = code
        self.message = message or self.codes[code]
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class AuthenticationError(TrustError):
    """The caller could not be authenticated (token, key or channel)."""

    codes: ClassVar[dict[str, str]] = {
        "token_expired": "token has expired",
        "token_not_yet_valid": "token is not valid yet",
        "lifetime_too_long": "token lifetime exceeds the allowed maximum",
        "unknown_key": "signing key is not in the federation directory",
        "key_not_valid": "signing key is outside its validity period",
        "bad_signature": "signature does not verify",
        "replayed": "token was already presented",
        "audience_mismatch": "token is not addressed to this node",
        "issuer_mismatch": "token issuer does not match the channel or subject",
        "unknown_issuer": "token issuer is not a federation member",
        "algorithm_not_allowed": "signature algorithm is not allowed",
        "header_not_allowed": "token header is not allowed",
        "token_too_large": "token is too large",
        "malformed_token": "token is malformed",
        "member_revoked": "member has been revoked",
        "key_revoked": "signing key has been revoked",
    }


class PolicyDenied(TrustError):
    """The caller is authenticated but no agreement allows the request."""

    codes: ClassVar[dict[str, str]] = {
        "no_agreement": "no agreement covers this request",
        "agreement_ambiguous": "several agreements apply; name one",
        "agreement_not_active": "agreement is not active",
        "purpose_not_allowed": "purpose is not allowed by the agreement",
        "type_not_allowed": "entity type is not allowed by the agreement",
        "field_not_allowed": "attribute is not allowed by the agreement",
        "outside_area": "geographic filter is outside the agreed area",
        "aggregate_only": "agreement allows aggregate queries only",
        "below_k_threshold": "result is below the agreed k-anonymity threshold",
        "differencing_suspected": "aggregate differs from a recent one by too few entities",
        "differencing_memory_full": "too many aggregate groups remembered for this consumer",
        "operation_not_allowed": "operation is not allowed by the agreement",
    }


class RateLimited(PolicyDenied):
    """A rate limit of the agreement is exhausted; retry after ``retry_after`` seconds."""

    codes: ClassVar[dict[str, str]] = {"rate_limited": "rate limit exceeded"}

    def __init__(self, code: str, message: str | None = None, *, retry_after: float = 0.0) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


class DirectoryError(TrustError):
    """The federation member directory could not be accepted."""

    codes: ClassVar[dict[str, str]] = {
        "directory_rollback": "directory version is older than the one held",
        "directory_conflict": "directory differs from the held one with the same version",
        "directory_expired": "directory is past its next-update time",
        "directory_not_yet_valid": "directory is issued in the future",
        "bad_signature": "directory signature does not verify against the authority key",
        "invalid_directory": "directory document is invalid",
        "directory_too_large": "directory document is too large",
        "no_directory": "no verified directory is held",
    }


class AgreementError(TrustError):
    """An agreement document, signature or revocation is invalid."""

    codes: ClassVar[dict[str, str]] = {
        "invalid_agreement": "agreement document is invalid",
        "agreement_too_large": "agreement document is too large",
        "bad_signature": "agreement signature does not verify",
        "not_a_party": "signer is not a party to the agreement",
        "invalid_revocation": "agreement revocation is invalid",
    }


class AuditError(TrustError):
    """An audit entry, checkpoint or receipt is invalid."""

    codes: ClassVar[dict[str, str]] = {
        "invalid_audit_entry": "audit entry is invalid",
        "bad_checkpoint": "audit checkpoint does not verify",
        "bad_receipt": "receipt does not verify",
        "receipt_mismatch": "receipt does not match the data received",
        "bad_proof": "Merkle proof does not verify",
        "malformed_note": "signed note is malformed",
        "bad_note_signature": "a signature from a known key on the note does not verify",
        "untrusted_note": "the note carries no valid signature from a trusted key",
        "bad_cosignature": "witness cosignature does not verify",
        "bad_witness_key": "witness key statement does not verify",
    }


class WitnessError(TrustError):
    """A witness refuses to cosign a checkpoint (C2SP tlog-witness ``add-checkpoint``).

    ``size_conflict`` carries ``known_size``: the size of the last checkpoint the witness
    cosigned for that log, which the log needs to build the right consistency proof.
    """

    codes: ClassVar[dict[str, str]] = {
        "unknown_log": "the witness does not know this log",
        "untrusted_checkpoint": "no checkpoint signature verifies against the log's key",
        "invalid_request": "the add-checkpoint request is malformed",
        "size_conflict": "old size does not match the last checkpoint the witness cosigned",
        "root_conflict": "a different root for the size the witness already cosigned",
        "inconsistent_tree": "the consistency proof does not verify: the log was not append-only",
    }

    def __init__(self, code: str, message: str | None = None, *, known_size: int = 0) -> None:
        super().__init__(code, message)
        self.known_size = known_size


class KeyMaterialError(TrustError):
    """A key or key file is unusable."""

    codes: ClassVar[dict[str, str]] = {
        "invalid_key": "key is invalid",
        "unsupported_algorithm": "algorithm is not supported",
        "key_file_insecure": "private key file is readable by other users",
        "key_file_exists": "key file already exists",
    }


class AuthorityError(TrustError):
    """A federation authority operation failed."""

    codes: ClassVar[dict[str, str]] = {
        "authority_exists": "authority state already exists",
        "no_authority": "no authority state in this directory",
        "unknown_member": "no such member",
        "unknown_key": "member has no such key",
        "member_exists": "member already exists",
        "invalid_member": "member entry is invalid",
        "bad_join_request": "join request is invalid",
    }


class DocumentError(TrustError):
    """A JSON document could not be parsed or canonicalized."""

    codes: ClassVar[dict[str, str]] = {
        "invalid_document": "document is not valid canonical JSON input",
        "document_too_large": "document is too large",
    }


class GeometryError(TrustError):
    """An agreed area, a geometry or a geographic filter is not usable."""

    codes: ClassVar[dict[str, str]] = {
        "invalid_area": "area is not a valid GeoJSON Polygon/MultiPolygon or bbox",
        "invalid_geometry": "geometry is not valid GeoJSON",
        "invalid_filter": "geographic filter is invalid",
    }


class InvalidArgument(TrustError):
    """A setting or argument handed to ``trust`` by its caller is outside what it accepts.

    ``invalid_setting`` is a configuration value (token lifetimes, algorithm lists, limits);
    ``invalid_argument`` is a call that breaks the function's contract (a negative count).
    """

    codes: ClassVar[dict[str, str]] = {
        "invalid_setting": "setting is outside the accepted range",
        "invalid_argument": "argument is outside the accepted range",
    }
