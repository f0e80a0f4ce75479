"""Agreements: document model, both parties' signatures, states and signed revocations."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fedkit import AGENCY, NANAO, T0, TAKAMATSU, Federation, make_agreement
from hypothesis import given, settings
from hypothesis import strategies as st

from trust.agreements import (
    Agreement,
    Area,
    SignedAgreement,
    agreement_state,
    attach_revocation,
    revoke_agreement,
    sign_agreement,
    verify_revocation,
    verify_signature,
)
from trust.directory import Directory, Member, MemberKey
from trust.errors import AgreementError
from trust.keys import NodeKey


def _both(fed: Federation, agreement: Agreement | None = None) -> SignedAgreement:
    agreement = agreement or make_agreement()
    signed = sign_agreement(agreement, AGENCY, fed.keys[AGENCY], now=T0)
    return sign_agreement(signed, NANAO, fed.keys[NANAO], now=T0)


def test_document_round_trip_keeps_canonical_bytes() -> None:
    agreement = make_agreement()
    again = Agreement.from_json(json.dumps(agreement.to_document(), indent=2))
    assert again == agreement
    assert again.canonical_bytes() == agreement.canonical_bytes()
    assert agreement.allowed_attributes("EvacuationSite") >= {"id", "type", "name"}


@settings(max_examples=30)
@given(st.permutations(["name", "location", "capacity", "suitableFor"]),
       st.permutations(["EvacuationSite", "ShelterOccupancy"]))
def test_canonical_bytes_do_not_depend_on_set_or_key_order(attrs: list[str],
                                                           types: list[str]) -> None:
    shuffled = make_agreement(
        entity_types=frozenset(types),
        attributes={t: (set(attrs) if t == "EvacuationSite"
                        else {"occupancy", "refEvacuationSite"}) for t in types})
    assert shuffled.canonical_bytes() == make_agreement().canonical_bytes()


@pytest.mark.parametrize("overrides, message", [
    ({"purpose": "marketing"}, "purpose"),
    ({"consumer": NANAO}, "differ"),
    ({"aggregate_only": True, "k_threshold": 1}, "k_threshold"),
    ({"attributes": {"EvacuationSite": {"name"}}}, "entity types"),
    ({"not_after": T0 - 86400}, "not_after"),
    ({"id": "has space"}, "agreement id"),
    ({"operations": frozenset({"delete"})}, "operations"),
    ({"attributes": {"EvacuationSite": {"na me"}, "ShelterOccupancy": set()}}, "valid name"),
])
def test_invalid_agreements_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(AgreementError, match=message) as caught:
        make_agreement(**overrides)
    assert caught.value.code == "invalid_agreement"


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(extra=True), "unknown field"),
    (lambda d: d.update(area={"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0],
                                                                   [0, 1], [0, 0]]]}), "valid"),
    (lambda d: d.update(area=[137.1, 36.9, 136.8, 37.2]), "bbox"),
    (lambda d: d.update(area={"type": "Point", "coordinates": [137, 37]}), "Polygon"),
    (lambda d: d["rate_limits"].update(requests_per_minute=0), "requests_per_minute"),
    (lambda d: d.update(k_threshold=True), "k_threshold"),
])
def test_invalid_documents_are_refused_with_a_code(mutate, message: str) -> None:
    document = make_agreement().to_document()
    mutate(document)
    with pytest.raises(AgreementError) as err:
        Agreement.from_document(document)
    assert err.value.code == "invalid_agreement" and message in str(err.value)


def test_oversized_agreement_json_is_refused() -> None:
    with pytest.raises(AgreementError) as err:
        Agreement.from_json(b" " * (2 << 20))
    assert err.value.code == "agreement_too_large"


def test_states_proposed_then_active_then_expired(fed: Federation) -> None:
    agreement = make_agreement()
    proposed = sign_agreement(agreement, AGENCY, fed.keys[AGENCY], now=T0)
    assert agreement_state(proposed, fed.current(), T0) == "proposed"
    active = sign_agreement(proposed, NANAO, fed.keys[NANAO], now=T0)
    assert agreement_state(active, fed.current(), T0) == "active"
    assert agreement_state(active, fed.current(), agreement.not_after + 1) == "expired"


def test_only_parties_can_sign(fed: Federation) -> None:
    with pytest.raises(AgreementError) as err:
        sign_agreement(make_agreement(), TAKAMATSU, fed.keys[TAKAMATSU], now=T0)
    assert err.value.code == "not_a_party"


def test_signature_over_a_different_document_does_not_count(fed: Federation) -> None:
    signed = _both(fed)
    widened = replace(signed.agreement, retention_days=3650)
    forged = SignedAgreement(widened, signed.signatures)
    assert agreement_state(forged, fed.current(), T0) == "proposed"
    with pytest.raises(AgreementError) as err:
        verify_signature(forged, NANAO, fed.current())
    assert err.value.code == "bad_signature"


def test_signature_by_a_key_outside_the_directory_does_not_count(fed: Federation) -> None:
    signed = sign_agreement(make_agreement(), AGENCY, fed.keys[AGENCY], now=T0)
    signed = sign_agreement(signed, NANAO, NodeKey.generate(), now=T0)
    assert agreement_state(signed, fed.current(), T0) == "proposed"


def test_revoked_signing_key_voids_the_agreement(fed: Federation) -> None:
    signed = _both(fed)
    fed.revoked_keys.add(fed.keys[NANAO].kid)
    fed.holder.update(fed.publish(), T0)  # type: ignore[union-attr]
    assert agreement_state(signed, fed.current(), T0) == "proposed"


def test_routine_key_rotation_keeps_the_agreement_active(fed: Federation) -> None:
    signed = _both(fed)
    # Nanao's signing key expires (not revoked) and a new key takes over.
    base = fed.current()
    old = base.member(NANAO)
    assert old is not None
    new_key = NodeKey.generate()
    expired_key = replace(old.keys[0], not_after=T0 + 10)
    rotated = replace(old, keys=(expired_key, MemberKey(new_key.kid, new_key.public_jwk(), T0,
                                                        T0 + 10**7)))
    members: list[Member] = [rotated if m.id == NANAO else m for m in base.members.values()]
    later = Directory.of(base.version + 1, T0 + 100, T0 + 86400, members)
    assert agreement_state(signed, later, T0 + 100) == "active"


def test_agreement_newer_than_the_directory_is_not_active(fed: Federation) -> None:
    signed = _both(fed, make_agreement(directory_version=99))
    assert agreement_state(signed, fed.current(), T0) == "proposed"


def test_revocation_by_either_party(fed: Federation) -> None:
    signed = _both(fed)
    revocation = revoke_agreement(signed, AGENCY, fed.keys[AGENCY], now=T0 + 5, reason="done")
    checked = verify_revocation(revocation, signed, fed.current())
    assert (checked.revoked_by, checked.revoked_at, checked.reason) == (AGENCY, T0 + 5, "done")
    revoked = attach_revocation(signed, revocation, fed.current())
    assert agreement_state(revoked, fed.current(), T0 + 5) == "revoked"
    # A later revocation of the revoker's key does not resurrect the agreement.
    fed.revoked_keys.add(fed.keys[AGENCY].kid)
    fed.holder.update(fed.publish(), T0)  # type: ignore[union-attr]
    assert verify_revocation(revocation, signed, fed.current()).revoked_by == AGENCY
    assert agreement_state(revoked, fed.current(), T0 + 5) == "revoked"


def test_revocation_must_be_by_a_party_for_this_agreement(fed: Federation) -> None:
    signed = _both(fed)
    with pytest.raises(AgreementError) as err:
        revoke_agreement(signed, TAKAMATSU, fed.keys[TAKAMATSU], now=T0)
    assert err.value.code == "not_a_party"
    other = _both(fed, make_agreement(id="agr-other"))
    revocation = revoke_agreement(other, NANAO, fed.keys[NANAO], now=T0)
    with pytest.raises(AgreementError) as err:
        attach_revocation(signed, revocation, fed.current())
    assert err.value.code == "invalid_revocation"
    forged = revoke_agreement(signed, NANAO, NodeKey.generate(kid=fed.keys[NANAO].kid), now=T0)
    with pytest.raises(AgreementError) as err:
        verify_revocation(forged, signed, fed.current())
    assert err.value.code == "invalid_revocation"


def test_signed_agreement_storage_round_trip(fed: Federation) -> None:
    signed = _both(fed)
    again = SignedAgreement.from_json(json.dumps(signed.to_document()))
    assert again == signed
    assert agreement_state(again, fed.current(), T0) == "active"


def test_multipolygon_area_round_trips() -> None:
    area = {"type": "MultiPolygon", "coordinates": [
        [[[136.9, 37.0], [137.0, 37.0], [137.0, 37.1], [136.9, 37.1], [136.9, 37.0]]],
        [[[137.2, 37.0], [137.3, 37.0], [137.3, 37.1], [137.2, 37.0]]]]}
    agreement = make_agreement(area=Area(area))
    assert Agreement.from_document(agreement.to_document()).area == Area(area)


def test_signature_dated_in_the_future_does_not_count(fed: Federation) -> None:
    signed = sign_agreement(make_agreement(), AGENCY, fed.keys[AGENCY], now=T0)
    signed = sign_agreement(signed, NANAO, fed.keys[NANAO], now=T0 + 3600)
    assert agreement_state(signed, fed.current(), T0) == "proposed"
    assert agreement_state(signed, fed.current(), T0 + 3600) == "active"
