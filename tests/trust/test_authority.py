"""The authority's state directory: init, join requests with proof of possession, publish."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from fedkit import T0

from trust.authority import Authority, make_join_request
from trust.canonical import b64url_decode, b64url_encode
from trust.clock import ManualClock
from trust.directory import DirectoryHolder, verify_directory
from trust.errors import AuthenticationError, AuthorityError
from trust.keys import NodeKey

FP = "sha256:" + "ab" * 32


@pytest.fixture
def authority(tmp_path: Path, clock: ManualClock) -> Authority:
    return Authority.init(tmp_path / "authority", clock=clock)


def _join(key: NodeKey, member_id: str = "jp-172022", **kw) -> str:
    return make_join_request(member_id, "七尾市", "Nanao", "city", ["nanao.example:7443"], key,
                             kw.pop("fingerprint", FP), now=kw.pop("now", T0))


def test_init_writes_a_0600_key_and_refuses_to_overwrite(authority: Authority,
                                                         tmp_path: Path) -> None:
    key_file = tmp_path / "authority" / "authority.jwk"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with pytest.raises(AuthorityError) as err:
        Authority.init(tmp_path / "authority")
    assert err.value.code == "authority_exists"
    assert Authority.open(tmp_path / "authority").public_jwk() == authority.public_jwk()


def test_open_without_state_says_so(tmp_path: Path) -> None:
    with pytest.raises(AuthorityError) as err:
        Authority.open(tmp_path)
    assert err.value.code == "no_authority"


def test_admitted_node_appears_in_the_published_directory(authority: Authority,
                                                          clock: ManualClock) -> None:
    node_key = NodeKey.generate()
    request = authority.inspect_join_request(_join(node_key))
    assert request.thumbprint == node_key.kid  # what the operator compares out of band
    member = authority.admit(_join(node_key))
    assert member.key(node_key.kid) is not None and member.tls_fingerprints == (FP,)
    jws = authority.publish(validity_seconds=3600)
    directory = verify_directory(jws, authority.public_jwk(), now=T0)
    assert directory.version == 1 and directory.next_update == T0 + 3600
    assert directory.signing_key("jp-172022", node_key.kid, T0).kid == node_key.kid
    assert authority.published() == jws


def test_join_request_without_proof_of_possession_is_refused(authority: Authority) -> None:
    victim, attacker = NodeKey.generate(), NodeKey.generate()
    # The attacker asks to admit the victim's public key but cannot sign with it.
    header, payload, _ = _join(attacker).split(".")
    doc = json.loads(b64url_decode(payload))
    doc["jwk"] = victim.public_jwk()
    forged_header = json.loads(b64url_decode(header))
    forged_header["kid"] = victim.kid
    forged = ".".join([b64url_encode(json.dumps(forged_header).encode()),
                       b64url_encode(json.dumps(doc).encode()), _join(attacker).split(".")[2]])
    with pytest.raises(AuthorityError) as err:
        authority.admit(forged)
    assert err.value.code == "bad_join_request"


def test_stale_join_request_is_refused(authority: Authority) -> None:
    with pytest.raises(AuthorityError) as err:
        authority.admit(_join(NodeKey.generate(), now=T0 - 30 * 86400))
    assert err.value.code == "bad_join_request"


def test_existing_member_needs_an_explicit_rotation(authority: Authority,
                                                    clock: ManualClock) -> None:
    old, new = NodeKey.generate(), NodeKey.generate()
    authority.admit(_join(old))
    with pytest.raises(AuthorityError) as err:
        authority.admit(_join(new))
    assert err.value.code == "member_exists"
    member = authority.admit(_join(new), rotation=True)
    assert {k.kid for k in member.keys} == {old.kid, new.kid}
    authority.retire_key("jp-172022", old.kid, T0 + 600)
    directory = verify_directory(authority.publish(), authority.public_jwk(), now=T0)
    assert directory.signing_key("jp-172022", old.kid, T0 + 300).kid == old.kid  # overlap
    assert directory.signing_key("jp-172022", new.kid, T0 + 300).kid == new.kid
    with pytest.raises(AuthenticationError) as err2:
        directory.signing_key("jp-172022", old.kid, T0 + 1200)
    assert err2.value.code == "key_not_valid"


def test_revocation_takes_effect_at_the_next_publish(authority: Authority,
                                                     tmp_path: Path) -> None:
    key = NodeKey.generate()
    authority.admit(_join(key))
    holder = DirectoryHolder(authority.public_jwk())
    holder.update(authority.publish(), T0)
    authority.revoke("jp-172022", key.kid)
    # Not yet published: the held directory still accepts the key.
    assert holder.current.signing_key("jp-172022", key.kid, T0)
    reopened = Authority.open(tmp_path / "authority", clock=ManualClock(T0))
    holder.update(reopened.publish(), T0)
    assert holder.current.version == 2
    with pytest.raises(AuthenticationError) as err:
        holder.current.signing_key("jp-172022", key.kid, T0)
    assert err.value.code == "key_revoked"
    reopened.revoke("jp-172022")
    holder.update(reopened.publish(), T0)
    with pytest.raises(AuthenticationError) as err:
        holder.current.signing_key("jp-172022", key.kid, T0)
    assert err.value.code == "member_revoked"


def test_versions_only_grow_across_reopen(authority: Authority, tmp_path: Path) -> None:
    authority.publish()
    authority.publish()
    again = Authority.open(tmp_path / "authority", clock=ManualClock(T0))
    jws = again.publish()
    assert verify_directory(jws, again.public_jwk(), now=T0).version == 3


def test_add_member_directly_and_errors(authority: Authority) -> None:
    key = NodeKey.generate("EdDSA")
    member = authority.add_member("jp-gov-cao", "内閣府", "Cabinet Office", "agency",
                                  ["cao.example:7443"], [key.public_jwk()])
    assert member.keys[0].algorithm == "EdDSA"
    with pytest.raises(AuthorityError) as err:
        authority.add_member("jp-gov-cao", "x", "x", "agency")
    assert err.value.code == "member_exists"
    with pytest.raises(AuthorityError) as err:
        authority.add_member("jp-000001", "x", "x", "mayor")
    assert err.value.code == "invalid_member"
    with pytest.raises(AuthorityError) as err:
        authority.revoke("jp-999999")
    assert err.value.code == "unknown_member"
    with pytest.raises(AuthorityError) as err:
        authority.revoke("jp-gov-cao", "nope")
    assert err.value.code == "unknown_key"
    with pytest.raises(AuthorityError) as err:
        authority.add_member("jp-000002", "x", "x", "city", keys=[key.private_jwk()])
    assert err.value.code == "invalid_member"


def test_add_members_enrols_many_at_once_or_none(authority: Authority, tmp_path: Path,
                                                 clock: ManualClock) -> None:
    keys = [NodeKey.generate() for _ in range(3)]
    entries = [{"member_id": f"jp-90000{i}", "name_ja": f"市{i}", "name_en": f"City {i}",
                "role": "city", "endpoints": [f"127.0.0.1:{7000 + i}"],
                "keys": [k.public_jwk()], "tls_fingerprints": [FP]}
               for i, k in enumerate(keys)]
    added = authority.add_members(entries)
    assert [m.id for m in added] == ["jp-900000", "jp-900001", "jp-900002"]
    # Written: a reopened authority publishes all three with their keys.
    jws = Authority.open(tmp_path / "authority", clock=clock).publish()
    directory = verify_directory(jws, authority.public_jwk(), now=T0)
    assert {m: directory.members[m].endpoints for m in ("jp-900001", "jp-900002")} == {
        "jp-900001": ("127.0.0.1:7001",), "jp-900002": ("127.0.0.1:7002",)}
    assert directory.members["jp-900000"].keys[0].jwk == keys[0].public_jwk()
    # One bad entry (a member already there, a duplicate, a bad role): nobody is added.
    for bad in ({**entries[0], "member_id": "jp-900003", "role": "mayor"},
                {**entries[0], "member_id": "jp-900002"}):
        with pytest.raises(AuthorityError):
            authority.add_members([{**entries[0], "member_id": "jp-900004"}, bad])
        assert "jp-900004" not in authority.members
    with pytest.raises(AuthorityError) as err:
        authority.add_members([{**entries[0], "member_id": "jp-900005"}] * 2)
    assert err.value.code == "member_exists"
    assert "jp-900005" not in authority.members


def test_rotation_with_a_malformed_fingerprint_is_a_bad_request(authority: Authority) -> None:
    authority.admit(_join(NodeKey.generate()))
    with pytest.raises(AuthorityError) as err:
        authority.admit(_join(NodeKey.generate(), fingerprint="md5:00"), rotation=True)
    assert err.value.code == "bad_join_request"
    with pytest.raises(AuthorityError) as err:
        authority.admit(_join(NodeKey.generate(), member_id="jp-000009", fingerprint="x"))
    assert err.value.code == "bad_join_request"
