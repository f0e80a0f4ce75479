"""Node keys: generation, 0600 files, JWK export and compact JWS round trips."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from trust.errors import AuthenticationError, KeyMaterialError
from trust.jwk import jwk_thumbprint, public_key_from_jwk
from trust.keys import NodeKey, verify_compact


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_key_file_is_0600_and_round_trips(tmp_path: Path, alg: str) -> None:
    key = NodeKey.generate(alg)
    path = tmp_path / "node.jwk"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = NodeKey.load(path)
    assert loaded.kid == key.kid and loaded.algorithm == alg
    assert loaded.public_jwk() == key.public_jwk()
    jws = loaded.sign_compact(b"payload", "test")
    assert verify_compact(jws, key.public_jwk(), ["ES256", "EdDSA"]) == b"payload"


def test_saving_never_overwrites_a_key_by_accident(tmp_path: Path) -> None:
    path = tmp_path / "node.jwk"
    NodeKey.generate().save(path)
    with pytest.raises(KeyMaterialError) as err:
        NodeKey.generate().save(path)
    assert err.value.code == "key_file_exists"


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.jwk"
    NodeKey.generate().save(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyMaterialError) as err:
        NodeKey.load(path)
    assert err.value.code == "key_file_insecure"
    assert NodeKey.load(path, check_mode=False).algorithm == "ES256"


def test_default_kid_is_the_rfc7638_thumbprint() -> None:
    key = NodeKey.generate()
    assert key.kid == jwk_thumbprint(key.public_jwk())


def test_rfc8037_example_thumbprint() -> None:
    # RFC 8037 Appendix A.3: the thumbprint of the Ed25519 example key. It depends only on the
    # required members, so kid/alg do not change it.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert jwk_thumbprint({**jwk, "kid": "x", "alg": "EdDSA"}) == jwk_thumbprint(jwk)


def test_public_jwk_with_private_material_is_refused() -> None:
    key = NodeKey.generate()
    with pytest.raises(KeyMaterialError):
        public_key_from_jwk(key.private_jwk())


def test_jwk_whose_alg_contradicts_its_curve_is_refused() -> None:
    jwk = NodeKey.generate().public_jwk()
    with pytest.raises(KeyMaterialError):
        public_key_from_jwk({**jwk, "alg": "EdDSA"})


def test_point_not_on_the_curve_is_refused() -> None:
    jwk = dict(NodeKey.generate().public_jwk())
    jwk["y"] = jwk["x"]
    with pytest.raises(KeyMaterialError) as err:
        public_key_from_jwk(jwk)
    assert err.value.code == "invalid_key"


def test_verify_compact_requires_the_expected_typ_and_key() -> None:
    key, other = NodeKey.generate(), NodeKey.generate()
    jws = key.sign_compact(b"x", "a")
    with pytest.raises(AuthenticationError) as err:
        verify_compact(jws, key.public_jwk(), ["ES256"], typ="b")
    assert err.value.code == "malformed_token"
    with pytest.raises(AuthenticationError) as err:
        verify_compact(jws, other.public_jwk(), ["ES256"])
    assert err.value.code == "unknown_key"  # kid names a different key
    stripped = {k: v for k, v in other.public_jwk().items() if k != "kid"}
    with pytest.raises(AuthenticationError) as err:
        verify_compact(jws, stripped, ["ES256"])
    assert err.value.code == "bad_signature"


def test_verify_compact_enforces_the_allow_list() -> None:
    key = NodeKey.generate("EdDSA")
    with pytest.raises(AuthenticationError) as err:
        verify_compact(key.sign_compact(b"x", "a"), key.public_jwk(), ["ES256"])
    assert err.value.code == "algorithm_not_allowed"


def test_unsupported_algorithm_cannot_be_generated() -> None:
    with pytest.raises(KeyMaterialError) as err:
        NodeKey.generate("HS256")
    assert err.value.code == "unsupported_algorithm"
