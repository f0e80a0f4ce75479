"""Member directory: signature, canonical form, rollback, expiry, rotation and revocation."""

from __future__ import annotations

import pytest
from fedkit import NANAO, T0, TAKAMATSU, Federation, key_for

from trust.canonical import b64url_encode, canonical_bytes
from trust.directory import (
    Directory,
    DirectoryHolder,
    Member,
    MemberKey,
    sign_directory,
    verify_directory,
)
from trust.errors import AuthenticationError, DirectoryError
from trust.keys import NodeKey


def _code(exc_info: pytest.ExceptionInfo[Exception]) -> str:
    return exc_info.value.code  # type: ignore[attr-defined]


def test_verified_directory_lists_members_and_keys(fed: Federation) -> None:
    directory = verify_directory(fed.publish(), fed.authority.public_jwk(), now=T0)
    nanao = directory.member(NANAO)
    assert nanao is not None and nanao.name_ja == "七尾市" and nanao.role == "city"
    assert nanao.key(fed.keys[NANAO].kid) is not None
    assert directory.member("jp-999999") is None


def test_document_round_trips_and_is_canonical(fed: Federation) -> None:
    directory = fed.directory()
    again = Directory.from_document(directory.to_document())
    assert again == directory
    assert again.canonical_bytes() == directory.canonical_bytes()


def test_directory_signed_by_another_key_is_refused(fed: Federation) -> None:
    forged = sign_directory(fed.directory(), NodeKey.generate())
    with pytest.raises(DirectoryError) as err:
        verify_directory(forged, fed.authority.public_jwk(), now=T0)
    assert _code(err) == "bad_signature"


def test_forged_directory_with_the_authority_kid_is_refused(fed: Federation) -> None:
    impostor = NodeKey.generate(kid=fed.authority.kid)
    with pytest.raises(DirectoryError) as err:
        verify_directory(sign_directory(fed.directory(), impostor), fed.authority.public_jwk(),
                         now=T0)
    assert _code(err) == "bad_signature"


def test_tampered_payload_is_refused(fed: Federation) -> None:
    header, _, signature = fed.publish().split(".")
    doc = fed.directory().to_document()
    doc["members"] = doc["members"][:1]
    tampered = f"{header}.{b64url_encode(canonical_bytes(doc))}.{signature}"
    with pytest.raises(DirectoryError) as err:
        verify_directory(tampered, fed.authority.public_jwk(), now=T0)
    assert _code(err) == "bad_signature"


def test_non_canonical_signed_bytes_are_refused(fed: Federation) -> None:
    payload = b" " + fed.directory().canonical_bytes()
    jws = fed.authority.sign_compact(payload, "renkei-directory+jws")
    with pytest.raises(DirectoryError) as err:
        verify_directory(jws, fed.authority.public_jwk(), now=T0)
    assert _code(err) == "invalid_directory"


def test_rollback_to_an_older_version_is_refused(fed: Federation) -> None:
    old = fed.publish(version=5)
    new = fed.publish(version=6)
    holder = DirectoryHolder(fed.authority.public_jwk())
    assert holder.update(new, T0).version == 6
    with pytest.raises(DirectoryError) as err:
        holder.update(old, T0)
    assert _code(err) == "directory_rollback"
    assert holder.current.version == 6
    with pytest.raises(DirectoryError) as err:
        verify_directory(old, fed.authority.public_jwk(), held_version=6, now=T0)
    assert _code(err) == "directory_rollback"


def test_high_water_mark_survives_a_lost_copy(fed: Federation) -> None:
    holder = DirectoryHolder(fed.authority.public_jwk(), min_version=9)
    with pytest.raises(DirectoryError) as err:
        holder.update(fed.publish(version=8), T0)
    assert _code(err) == "directory_rollback"


def test_same_version_with_different_content_is_a_conflict(fed: Federation) -> None:
    holder = DirectoryHolder(fed.authority.public_jwk())
    first = fed.publish(version=3)
    holder.update(first, T0)
    assert holder.update(first, T0).version == 3  # re-fetching the same document is fine
    other = fed.publish(version=3, members=[NANAO])
    with pytest.raises(DirectoryError) as err:
        holder.update(other, T0)
    assert _code(err) == "directory_conflict"


def test_expired_directory_is_refused_but_can_be_restored_at_startup(
        fed: Federation) -> None:
    jws = fed.publish(validity=3600)
    with pytest.raises(DirectoryError) as err:
        verify_directory(jws, fed.authority.public_jwk(), now=T0 + 3601)
    assert _code(err) == "directory_expired"
    holder = DirectoryHolder(fed.authority.public_jwk())
    restored = holder.update(jws, T0 + 3601, allow_expired=True)
    assert restored.is_stale(T0 + 3601)


def test_directory_from_the_future_is_refused(fed: Federation) -> None:
    fed.clock.advance(3600)
    jws = fed.publish()
    with pytest.raises(DirectoryError) as err:
        verify_directory(jws, fed.authority.public_jwk(), now=T0)
    assert _code(err) == "directory_not_yet_valid"


def test_holder_without_directory_says_so(fed: Federation) -> None:
    with pytest.raises(DirectoryError) as err:
        DirectoryHolder(fed.authority.public_jwk())()
    assert _code(err) == "no_directory"


def test_key_rotation_with_overlapping_validity(fed: Federation) -> None:
    old, new = fed.keys[NANAO], NodeKey.generate()
    member = fed.member(NANAO)
    rotated = Member(
        id=NANAO, name_ja=member.name_ja, name_en=member.name_en, role="city",
        keys=(MemberKey(old.kid, old.public_jwk(), T0 - 100, T0 + 1000),
              MemberKey(new.kid, new.public_jwk(), T0 + 500, T0 + 100_000)),
    )
    directory = Directory.of(2, T0, T0 + 86400, [rotated])
    assert directory.signing_key(NANAO, old.kid, T0).kid == old.kid
    # Overlap: both keys are accepted.
    assert directory.signing_key(NANAO, old.kid, T0 + 700).kid == old.kid
    assert directory.signing_key(NANAO, new.kid, T0 + 700).kid == new.kid
    # After the overlap only the new key.
    with pytest.raises(AuthenticationError) as err:
        directory.signing_key(NANAO, old.kid, T0 + 2000)
    assert _code(err) == "key_not_valid"
    with pytest.raises(AuthenticationError) as err:
        directory.signing_key(NANAO, new.kid, T0)
    assert _code(err) == "key_not_valid"


def test_revocation_takes_effect_with_the_next_version(fed: Federation) -> None:
    kid = fed.keys[TAKAMATSU].kid
    assert fed.current().signing_key(TAKAMATSU, kid, T0).kid == kid
    fed.revoked_keys.add(kid)
    fed.holder.update(fed.publish(), T0)  # type: ignore[union-attr]
    with pytest.raises(AuthenticationError) as err:
        fed.current().signing_key(TAKAMATSU, kid, T0)
    assert _code(err) == "key_revoked"
    fed.revoked_members.add(NANAO)
    fed.holder.update(fed.publish(), T0)  # type: ignore[union-attr]
    with pytest.raises(AuthenticationError) as err:
        fed.current().signing_key(NANAO, fed.keys[NANAO].kid, T0)
    assert _code(err) == "member_revoked"


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(version=0), "version"),
    (lambda d: d.update(extra=1), "unknown field"),
    (lambda d: d["members"][0].update(role="emperor"), "role"),
    (lambda d: d["members"][0].update(id="Nanao City"), "member id"),
    (lambda d: d["members"][0]["keys"][0]["jwk"].update(d="AAAA"), "private"),
    (lambda d: d["members"].append(d["members"][0]), "duplicate"),
    (lambda d: d["members"][0].update(tls_fingerprints=["md5:abc"]), "fingerprint"),
])
def test_invalid_documents_are_refused_with_a_reason(fed: Federation, mutate, message) -> None:
    doc = fed.directory().to_document()
    mutate(doc)
    with pytest.raises(DirectoryError) as err:
        Directory.from_document(doc)
    assert _code(err) == "invalid_directory"
    assert message in str(err.value)


def test_oversized_directory_is_refused(fed: Federation) -> None:
    with pytest.raises(DirectoryError) as err:
        verify_directory("a" * (9 << 20), fed.authority.public_jwk(), now=T0)
    assert _code(err) == "directory_too_large"


def test_ed25519_authority_works_too(clock) -> None:
    f = Federation(clock, NodeKey.generate("EdDSA"), {NANAO: key_for(NANAO)})
    directory = verify_directory(f.publish(), f.authority.public_jwk(), now=T0)
    assert directory.member(NANAO) is not None
