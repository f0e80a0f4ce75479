"""Node tokens: issuing, verification, the verified-token cache and the replay rule."""

from __future__ import annotations

import pytest
from fedkit import AGENCY, FINGERPRINT, NANAO, PROVIDER, T0, TAKAMATSU, Federation, craft

from trust.errors import AuthenticationError, InvalidArgument
from trust.keys import NodeKey
from trust.tokens import MemoryReplayCache, TokenIssuer, TokenPolicy, TokenVerifier


def _verifier(fed: Federation, replay: MemoryReplayCache | None = None,
              policy: TokenPolicy | None = None, self_id: str = NANAO) -> TokenVerifier:
    return TokenVerifier(self_id, fed.holder, policy or TokenPolicy(), fed.clock,  # type: ignore[arg-type]
                         replay if replay is not None else MemoryReplayCache(fed.clock))


def _issuer(fed: Federation, member: str = TAKAMATSU, lifetime: int = 60) -> TokenIssuer:
    return TokenIssuer(member, fed.keys[member], fed.clock, lifetime)


async def _code(coro) -> str:
    with pytest.raises(AuthenticationError) as err:
        await coro
    return err.value.code


async def test_issued_token_verifies_with_its_claims(fed: Federation) -> None:
    token = _issuer(fed).issue(NANAO, agreement_id="agr-1")
    caller = await _verifier(fed).verify(token, binding="tls:a")
    assert (caller.member_id, caller.subject, caller.agreement_id) == (TAKAMATSU, TAKAMATSU,
                                                                       "agr-1")
    assert caller.kid == fed.keys[TAKAMATSU].kid
    assert caller.expires_at - caller.issued_at == 60


async def test_eddsa_tokens_verify(fed: Federation) -> None:
    fed.keys[AGENCY] = NodeKey.generate("EdDSA")
    fed.holder.update(fed.publish(), T0)  # type: ignore[union-attr]
    caller = await _verifier(fed).verify(_issuer(fed, AGENCY).issue(NANAO), binding="b")
    assert caller.member_id == AGENCY


async def test_same_token_same_channel_is_a_cache_hit(fed: Federation) -> None:
    verifier = _verifier(fed)
    token = _issuer(fed).issue(NANAO)
    first = await verifier.verify(token, binding="tls:a")
    assert await verifier.verify(token, binding="tls:a") is first  # no second verification
    assert verifier.cached_tokens() == 1


async def test_same_token_on_another_channel_or_unbound_is_replayed(fed: Federation) -> None:
    verifier = _verifier(fed)
    token = _issuer(fed).issue(NANAO)
    await verifier.verify(token, binding="tls:a")
    assert await _code(verifier.verify(token, binding="tls:b")) == "replayed"
    assert await _code(verifier.verify(token)) == "replayed"


async def test_unbound_token_is_good_exactly_once(fed: Federation) -> None:
    verifier = _verifier(fed)
    token = _issuer(fed).issue(NANAO)
    await verifier.verify(token)
    assert await _code(verifier.verify(token)) == "replayed"
    assert await _code(verifier.verify(token, binding="tls:a")) == "replayed"


async def test_replay_binding_survives_a_restart_through_the_replay_cache(
        fed: Federation) -> None:
    # The broker's ReplayCache is persistent; two verifiers sharing one model a restart.
    replay = MemoryReplayCache(fed.clock)
    token = _issuer(fed).issue(NANAO)
    await _verifier(fed, replay).verify(token, binding="tls:a")
    restarted = _verifier(fed, replay)
    assert await _code(restarted.verify(token, binding="tls:b")) == "replayed"
    assert (await restarted.verify(token, binding="tls:a")).member_id == TAKAMATSU


async def test_cached_token_expires(fed: Federation) -> None:
    verifier = _verifier(fed)
    token = _issuer(fed).issue(NANAO)
    await verifier.verify(token, binding="b")
    fed.clock.advance(60 + 29)  # inside leeway
    await verifier.verify(token, binding="b")
    fed.clock.advance(2)
    assert await _code(verifier.verify(token, binding="b")) == "token_expired"


async def test_leeway_is_configurable(fed: Federation) -> None:
    token = _issuer(fed).issue(NANAO)
    fed.clock.advance(65)
    assert (await _verifier(fed).verify(token, binding="b")).member_id == TAKAMATSU
    strict = _verifier(fed, policy=TokenPolicy(leeway_seconds=0))
    assert await _code(strict.verify(token, binding="b")) == "token_expired"


async def test_revocation_in_a_newer_directory_invalidates_the_cache(fed: Federation) -> None:
    verifier = _verifier(fed)
    token = _issuer(fed).issue(NANAO)
    other = _issuer(fed, AGENCY).issue(NANAO)
    await verifier.verify(token, binding="b")
    await verifier.verify(other, binding="c")
    fed.revoked_keys.add(fed.keys[TAKAMATSU].kid)
    fed.holder.update(fed.publish(), T0)  # type: ignore[union-attr]
    assert await _code(verifier.verify(token, binding="b")) == "key_revoked"
    assert (await verifier.verify(other, binding="c")).member_id == AGENCY  # still cached
    fed.revoked_members.add(AGENCY)
    fed.holder.update(fed.publish(), T0)  # type: ignore[union-attr]
    assert await _code(verifier.verify(other, binding="c")) == "member_revoked"


async def test_a_sub_other_than_the_issuer_is_refused(fed: Federation) -> None:
    # Issue 12: a sub naming another member (a provider, an agency, an unknown id) was
    # accepted and ignored; the directory says no member acts for another, so it is refused.
    verifier = _verifier(fed)
    for subject in (PROVIDER, AGENCY, "jp-000000"):
        claims = {"iss": TAKAMATSU, "sub": subject, "aud": NANAO, "iat": T0, "exp": T0 + 60,
                  "jti": f"j-{subject}"}
        token = craft({"alg": "ES256", "kid": fed.keys[TAKAMATSU].kid, "typ": "JWT"}, claims,
                      key=fed.keys[TAKAMATSU])
        assert await _code(verifier.verify(token, binding="b")) == "issuer_mismatch", subject
    caller = await verifier.verify(_issuer(fed).issue(NANAO), binding="b")
    assert (caller.member_id, caller.subject) == (TAKAMATSU, TAKAMATSU)


async def test_tls_certificate_must_be_pinned_for_the_issuer(fed: Federation) -> None:
    verifier = _verifier(fed)
    token = _issuer(fed).issue(NANAO)
    assert await _code(verifier.verify(token, binding="b", peer_fingerprint=FINGERPRINT[AGENCY])
                       ) == "issuer_mismatch"
    ok = _issuer(fed).issue(NANAO)
    caller = await verifier.verify(ok, binding="b", peer_fingerprint=FINGERPRINT[TAKAMATSU])
    assert caller.member_id == TAKAMATSU


async def test_lifetime_over_the_maximum_is_refused(fed: Federation) -> None:
    key = fed.keys[TAKAMATSU]
    claims = {"iss": TAKAMATSU, "sub": TAKAMATSU, "aud": NANAO, "iat": T0, "exp": T0 + 301,
              "jti": "long"}
    token = craft({"alg": "ES256", "kid": key.kid, "typ": "JWT"}, claims, key=key)
    assert await _code(_verifier(fed).verify(token, binding="b")) == "lifetime_too_long"


@pytest.mark.parametrize("claims, code", [
    ({"sub": TAKAMATSU, "aud": NANAO, "iat": T0, "exp": T0 + 60, "jti": "a"}, "malformed_token"),
    ({"iss": TAKAMATSU, "sub": TAKAMATSU, "aud": NANAO, "iat": T0, "exp": T0 + 60},
     "malformed_token"),
    ({"iss": TAKAMATSU, "sub": TAKAMATSU, "aud": NANAO, "iat": "now", "exp": T0 + 60,
      "jti": "a"}, "malformed_token"),
    ({"iss": TAKAMATSU, "sub": TAKAMATSU, "aud": [NANAO, AGENCY], "iat": T0, "exp": T0 + 60,
      "jti": "a"}, "audience_mismatch"),
    ({"iss": TAKAMATSU, "sub": TAKAMATSU, "aud": NANAO, "iat": T0, "exp": T0, "jti": "a"},
     "malformed_token"),
    ({"iss": TAKAMATSU, "sub": TAKAMATSU, "aud": NANAO, "iat": T0, "exp": T0 + 60, "jti": "a",
      "agr": 7}, "malformed_token"),
])
async def test_claims_are_required_and_typed(fed: Federation, claims: dict, code: str) -> None:
    key = fed.keys[TAKAMATSU]
    token = craft({"alg": "ES256", "kid": key.kid, "typ": "JWT"}, claims, key=key)
    assert await _code(_verifier(fed).verify(token, binding="b")) == code


def test_policy_refuses_unsafe_settings() -> None:
    for bad in ({"algorithms": ("none",)}, {"algorithms": ("HS256",)}, {"algorithms": ()},
                {"leeway_seconds": -1}):
        with pytest.raises(InvalidArgument) as caught:
            TokenPolicy(**bad)  # type: ignore[arg-type]
        assert caught.value.code == "invalid_setting"
    with pytest.raises(InvalidArgument):
        TokenIssuer(NANAO, NodeKey.generate(), None, lifetime_seconds=301)  # type: ignore[arg-type]


async def test_memory_replay_cache_forgets_expired_entries(fed: Federation) -> None:
    cache = MemoryReplayCache(fed.clock, max_entries=2)
    assert await cache.remember("j1", TAKAMATSU, None, T0 + 10)
    assert await cache.remember("j2", TAKAMATSU, None, T0 + 10)
    with pytest.raises(AuthenticationError):  # full of live entries: fail closed
        await cache.remember("j3", TAKAMATSU, None, T0 + 10)
    fed.clock.advance(11)
    assert await cache.remember("j3", TAKAMATSU, None, T0 + 30)
    assert len(cache) == 1
