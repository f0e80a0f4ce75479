"""Attack catalogue: one case per attack, each refused with its specific code.

Attack tokens are built by hand (base64url segments, signatures made with ``cryptography``
directly) so that no case depends on PyJWT refusing to produce them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fedkit import AGENCY, FINGERPRINT, NANAO, PROVIDER, T0, TAKAMATSU, Federation, b64, craft

from trust.directory import DirectoryHolder, sign_directory
from trust.errors import AuthenticationError, DirectoryError, TrustError
from trust.keys import NodeKey
from trust.tokens import MemoryReplayCache, TokenIssuer, TokenPolicy, TokenVerifier

# P-256 group order, for the signature-malleability case.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass
class Ctx:
    """The callee is Nanao; the legitimate caller is Takamatsu."""

    fed: Federation
    verifier: TokenVerifier

    @property
    def key(self) -> NodeKey:
        return self.fed.keys[TAKAMATSU]

    def claims(self, **overrides: object) -> dict:
        base = {"iss": TAKAMATSU, "sub": TAKAMATSU, "aud": NANAO, "iat": T0, "nbf": T0,
                "exp": T0 + 60, "jti": f"jti-{overrides.get('jti_suffix', 'x')}"}
        overrides.pop("jti_suffix", None)
        base.update(overrides)
        return base

    def header(self, **overrides: object) -> dict:
        return {"alg": "ES256", "kid": self.key.kid, "typ": "JWT", **overrides}

    def signed(self, header: dict | None = None, claims: dict | None = None,
               key: NodeKey | None = None) -> str:
        return craft(header or self.header(), claims or self.claims(), key=key or self.key)

    async def verify(self, token: str, binding: str | None = "tls:takamatsu") -> object:
        return await self.verifier.verify(token, binding=binding)


Attack = Callable[[Ctx], Awaitable[object]]


async def alg_none(c: Ctx) -> object:
    header, claims = json.dumps(c.header(alg="none")), json.dumps(c.claims())
    token = f"{b64(header.encode())}.{b64(claims.encode())}."
    return await c.verify(token)


async def hs256_with_public_key(c: Ctx) -> object:
    # The classic confusion: HMAC keyed with the (public) verification key bytes.
    pem = c.key.private_key.public_key().public_bytes(Encoding.PEM,
                                                      PublicFormat.SubjectPublicKeyInfo)
    header, claims = c.header(alg="HS256"), c.claims()
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return await c.verify(f"{signing_input}.{b64(mac)}")


async def unknown_kid(c: Ctx) -> object:
    return await c.verify(c.signed(c.header(kid="no-such-key")))


async def kid_of_another_member(c: Ctx) -> object:
    # Takamatsu names Agency's key id (and even signs with Agency's key): lookup is per issuer.
    agency = c.fed.keys[AGENCY]
    return await c.verify(c.signed(c.header(kid=agency.kid), key=agency))


async def expired(c: Ctx) -> object:
    return await c.verify(c.signed(claims=c.claims(iat=T0 - 200, nbf=T0 - 200, exp=T0 - 100)))


async def nbf_in_the_future(c: Ctx) -> object:
    return await c.verify(c.signed(claims=c.claims(nbf=T0 + 120, exp=T0 + 180)))


async def iat_in_the_future(c: Ctx) -> object:
    return await c.verify(c.signed(claims=c.claims(iat=T0 + 120, nbf=T0, exp=T0 + 180)))


async def wrong_aud(c: Ctx) -> object:
    return await c.verify(c.signed(claims=c.claims(aud=AGENCY)))


async def wrong_iss_not_a_member(c: Ctx) -> object:
    return await c.verify(c.signed(claims=c.claims(iss="jp-999999", sub="jp-999999")))


async def wrong_iss_another_member(c: Ctx) -> object:
    # Takamatsu signs with its own key but claims to be Agency.
    return await c.verify(c.signed(claims=c.claims(iss=AGENCY, sub=AGENCY)))


async def replayed_jti(c: Ctx) -> object:
    await c.verify(c.signed(claims=c.claims(jti_suffix="once")), binding="tls:a")
    # A different token string (new signature) reusing the jti, on another channel.
    return await c.verify(c.signed(claims=c.claims(jti_suffix="once")), binding="tls:b")


async def replayed_token_other_channel(c: Ctx) -> object:
    token = c.signed()
    await c.verify(token, binding="tls:a")
    return await c.verify(token, binding="tls:eve")


async def replayed_unbound(c: Ctx) -> object:
    token = c.signed()
    await c.verify(token, binding=None)
    return await c.verify(token, binding=None)


async def malleated_signature_other_channel(c: Ctx) -> object:
    # ECDSA (r, s) and (r, n - s) both verify: a second token string for the same jti.
    token = c.signed()
    await c.verify(token, binding="tls:a")
    head, payload, sig = token.split(".")
    import base64
    raw = base64.urlsafe_b64decode(sig + "==")
    s = int.from_bytes(raw[32:], "big")
    flipped = raw[:32] + (P256_N - s).to_bytes(32, "big")
    return await c.verify(f"{head}.{payload}.{b64(flipped)}", binding="tls:eve")


async def revoked_member(c: Ctx) -> object:
    c.fed.revoked_members.add(TAKAMATSU)
    c.fed.holder.update(c.fed.publish(), T0)  # type: ignore[union-attr]
    return await c.verify(c.signed())


async def revoked_key(c: Ctx) -> object:
    c.fed.revoked_keys.add(c.key.kid)
    c.fed.holder.update(c.fed.publish(), T0)  # type: ignore[union-attr]
    return await c.verify(c.signed())


async def key_not_in_directory(c: Ctx) -> object:
    rogue = NodeKey.generate()
    return await c.verify(c.signed(c.header(kid=rogue.kid), key=rogue))


async def key_not_in_directory_claiming_a_listed_kid(c: Ctx) -> object:
    rogue = NodeKey.generate()
    return await c.verify(c.signed(c.header(), key=rogue))


async def embedded_jwk_header(c: Ctx) -> object:
    rogue = NodeKey.generate()
    return await c.verify(c.signed(c.header(jwk=rogue.public_jwk()), key=rogue))


async def jku_header(c: Ctx) -> object:
    return await c.verify(c.signed(c.header(jku="https://evil.example/jwks.json")))


async def x5u_header(c: Ctx) -> object:
    return await c.verify(c.signed(c.header(x5u="https://evil.example/cert.pem")))


async def crit_header(c: Ctx) -> object:
    return await c.verify(c.signed(c.header(crit=["exp"])))


async def unknown_header(c: Ctx) -> object:
    return await c.verify(c.signed(c.header(zip="DEF")))


async def oversized_token(c: Ctx) -> object:
    return await c.verify(c.signed(claims=c.claims(pad="x" * 5000)))


async def oversized_kid(c: Ctx) -> object:
    return await c.verify(c.signed(header=c.header(kid="k" * 10_000)))


async def subject_naming_another_member(c: Ctx) -> object:
    # The directory says no member acts for another: a sub other than iss is refused, not
    # accepted and ignored (issue 12).
    return await c.verify(c.signed(claims=c.claims(sub=PROVIDER)))


async def truncated_signature(c: Ctx) -> object:
    return await c.verify(c.signed()[:-10])


async def ecdsa_all_zero_signature(c: Ctx) -> object:
    token = craft(c.header(), c.claims(), signature=bytes(64))
    return await c.verify(token)


async def tampered_claims(c: Ctx) -> object:
    head, _, sig = c.signed().split(".")
    claims = json.dumps(c.claims(exp=T0 + 250)).encode()
    return await c.verify(f"{head}.{b64(claims)}.{sig}")


async def eddsa_header_on_es256_key(c: Ctx) -> object:
    return await c.verify(c.signed(c.header(alg="EdDSA")))


async def duplicate_claim(c: Ctx) -> object:
    body = json.dumps(c.claims())[:-1] + f', "aud": "{AGENCY}"}}'
    return await c.verify(craft(c.header(), body.encode(), key=c.key))


async def two_segment_token(c: Ctx) -> object:
    return await c.verify(".".join(c.signed().split(".")[:2]))


async def unpinned_tls_certificate(c: Ctx) -> object:
    return await c.verifier.verify(c.signed(), binding="tls:x",
                                   peer_fingerprint=FINGERPRINT[AGENCY])


async def directory_rollback(c: Ctx) -> object:
    fed = c.fed
    old = fed.publish(version=fed.version + 1)
    holder = DirectoryHolder(fed.authority.public_jwk())
    holder.update(fed.publish(version=fed.version + 5), T0)
    return holder.update(old, T0)


async def directory_signed_by_another_key(c: Ctx) -> object:
    holder = DirectoryHolder(c.fed.authority.public_jwk())
    forged = sign_directory(c.fed.directory(), NodeKey.generate(kid=c.fed.authority.kid))
    return holder.update(forged, T0)


CATALOGUE: list[tuple[Attack, type[TrustError], str]] = [
    (alg_none, AuthenticationError, "algorithm_not_allowed"),
    (hs256_with_public_key, AuthenticationError, "algorithm_not_allowed"),
    (unknown_kid, AuthenticationError, "unknown_key"),
    (kid_of_another_member, AuthenticationError, "unknown_key"),
    (expired, AuthenticationError, "token_expired"),
    (nbf_in_the_future, AuthenticationError, "token_not_yet_valid"),
    (iat_in_the_future, AuthenticationError, "token_not_yet_valid"),
    (wrong_aud, AuthenticationError, "audience_mismatch"),
    (wrong_iss_not_a_member, AuthenticationError, "unknown_issuer"),
    (wrong_iss_another_member, AuthenticationError, "unknown_key"),
    (replayed_jti, AuthenticationError, "replayed"),
    (replayed_token_other_channel, AuthenticationError, "replayed"),
    (replayed_unbound, AuthenticationError, "replayed"),
    (malleated_signature_other_channel, AuthenticationError, "replayed"),
    (revoked_member, AuthenticationError, "member_revoked"),
    (revoked_key, AuthenticationError, "key_revoked"),
    (key_not_in_directory, AuthenticationError, "unknown_key"),
    (key_not_in_directory_claiming_a_listed_kid, AuthenticationError, "bad_signature"),
    (embedded_jwk_header, AuthenticationError, "header_not_allowed"),
    (jku_header, AuthenticationError, "header_not_allowed"),
    (x5u_header, AuthenticationError, "header_not_allowed"),
    (crit_header, AuthenticationError, "header_not_allowed"),
    (unknown_header, AuthenticationError, "header_not_allowed"),
    (oversized_token, AuthenticationError, "malformed_token"),
    (oversized_kid, AuthenticationError, "malformed_token"),
    (subject_naming_another_member, AuthenticationError, "issuer_mismatch"),
    (truncated_signature, AuthenticationError, "bad_signature"),
    (ecdsa_all_zero_signature, AuthenticationError, "bad_signature"),
    (tampered_claims, AuthenticationError, "bad_signature"),
    (eddsa_header_on_es256_key, AuthenticationError, "algorithm_not_allowed"),
    (duplicate_claim, AuthenticationError, "malformed_token"),
    (two_segment_token, AuthenticationError, "malformed_token"),
    (unpinned_tls_certificate, AuthenticationError, "issuer_mismatch"),
    (directory_rollback, DirectoryError, "directory_rollback"),
    (directory_signed_by_another_key, DirectoryError, "bad_signature"),
]


@pytest.mark.parametrize("attack, category, code", CATALOGUE,
                         ids=[a.__name__ for a, _, _ in CATALOGUE])
async def test_attack_is_refused_with_its_code(fed: Federation, attack: Attack,
                                               category: type[TrustError], code: str) -> None:
    verifier = TokenVerifier(NANAO, fed.holder, TokenPolicy(), fed.clock,  # type: ignore[arg-type]
                             MemoryReplayCache(fed.clock))
    with pytest.raises(category) as err:
        await attack(Ctx(fed, verifier))
    assert err.value.code == code
    assert str(err.value)  # a peer-safe message is always present


async def test_the_honest_token_of_the_catalogue_context_is_accepted(fed: Federation) -> None:
    """Guards the catalogue: its baseline token must pass, so each attack tests one change."""
    verifier = TokenVerifier(NANAO, fed.holder, TokenPolicy(), fed.clock,  # type: ignore[arg-type]
                             MemoryReplayCache(fed.clock))
    ctx = Ctx(fed, verifier)
    assert (await ctx.verify(ctx.signed())).member_id == TAKAMATSU  # type: ignore[attr-defined]
    issued = TokenIssuer(TAKAMATSU, ctx.key, fed.clock).issue(NANAO)
    assert (await ctx.verify(issued)).member_id == TAKAMATSU  # type: ignore[attr-defined]


async def test_malleated_signature_on_the_same_channel_is_the_same_caller(
        fed: Federation) -> None:
    """Documented behaviour: a re-encoding on the first channel is no new authority."""
    verifier = TokenVerifier(NANAO, fed.holder, TokenPolicy(), fed.clock,  # type: ignore[arg-type]
                             MemoryReplayCache(fed.clock))
    ctx = Ctx(fed, verifier)
    token = ctx.signed()
    await ctx.verify(token, binding="tls:a")
    head, payload, sig = token.split(".")
    import base64
    raw = base64.urlsafe_b64decode(sig + "==")
    flipped = raw[:32] + (P256_N - int.from_bytes(raw[32:], "big")).to_bytes(32, "big")
    caller = await ctx.verify(f"{head}.{payload}.{b64(flipped)}", binding="tls:a")
    assert caller.member_id == TAKAMATSU  # type: ignore[attr-defined]
