"""Resume tokens: what a subscriber holds instead of a position in the change feed.

The change feed has one position per change of any entity, so a subscriber told the feed
positions of the changes it sees could subtract two of them and count the changes between
them that it may not see (outside its area, of other types, hidden attributes only): the
activity of everyone else (issue 12). A subscriber therefore never receives a feed position.
Each change it gets carries a *token* instead, which it persists and sends back to resume:

- a token is a random-looking 53-bit number (an integer JSON represents exactly, as RFC 8785
  request digests need) with its top bit set: the feed position (36 bits, 68 billion
  changes) and a fresh random nonce (16 bits), encrypted under a key made once in the store
  (the same on every replica, kept across restarts) by an 8-round Feistel permutation keyed
  BLAKE2b. Without the key neither the position nor the distance between two tokens can be
  told; with the nonce, two tokens for one position differ (but for one chance in 65,536),
  so not even "nothing happened in between" can be read from two "from now" tokens;
- tokens are not ordered: a subscriber compares nothing, it sends back the last token it
  got, and the stream resumes strictly after the position inside;
- a number without the top bit is a feed position from before tokens (a subscriber's cursor
  persisted under an older version): it is accepted up to the head of the feed when this
  store was migrated (``legacy_limit``, recorded by migration 0008), so an upgrade does not
  break a subscription, while no position after the upgrade can be probed that way;
- anything else (a forged token, one from another node or a reset store) is refused as
  ``invalid_cursor``: a subscriber that gets it starts over (``feed_client``).
"""

from __future__ import annotations

import hashlib
import secrets

from ..errors import BadRequest
from ..store.base import Store

TOKEN_BIT = 1 << 52
POSITION_BITS = 36
NONCE_BITS = 16
ROUNDS = 8
_LEFT_BITS = 26  # the 52 bits are split 26 | 26 for the Feistel rounds
_RIGHT_BITS = 26
STATE = "change_cursor"


class InvalidCursor(BadRequest):
    """The cursor is neither a token of this node nor a feed position it accepts."""

    code = "invalid_cursor"


class CursorTokens:
    """Seals feed positions into tokens and opens them again (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._key: bytes | None = None

    async def _secret(self) -> bytes:
        if self._key is None:
            value = await self._store.claim_state(STATE, "key", secrets.token_hex(32))
            self._key = bytes.fromhex(str(value))
        return self._key

    def _round(self, key: bytes, n: int, half: int, bits: int) -> int:
        digest = hashlib.blake2b(bytes([n]) + half.to_bytes(4, "big"), key=key,
                                 digest_size=4).digest()
        return int.from_bytes(digest, "big") & ((1 << bits) - 1)

    def _permute(self, key: bytes, value: int, order: range) -> int:
        left, right = value >> _RIGHT_BITS, value & ((1 << _RIGHT_BITS) - 1)
        for n in order:
            # Each round changes one half from the other, so running the rounds backwards
            # with the same functions undoes them.
            if n % 2 == 0:
                left ^= self._round(key, n, right, _LEFT_BITS)
            else:
                right ^= self._round(key, n, left, _RIGHT_BITS)
        return left << _RIGHT_BITS | right

    async def seal(self, position: int) -> int:
        """A fresh token for feed ``position`` (0 too: a "from now" stream on an empty feed
        must not start from now again when it resumes)."""
        if not 0 <= position < 1 << POSITION_BITS:
            raise ValueError(f"feed position {position} does not fit a token")
        plain = position << NONCE_BITS | secrets.randbits(NONCE_BITS)
        return TOKEN_BIT | self._permute(await self._secret(), plain, range(ROUNDS))

    async def open(self, token: int) -> int:
        """The feed position to resume after; ``InvalidCursor`` if ``token`` is not one."""
        if token == 0:
            return 0
        if token >= TOKEN_BIT << 1:
            raise InvalidCursor("cursor is not a token of this node: subscribe afresh")
        if not token & TOKEN_BIT:
            limit = await self._store.get_state(STATE, "legacy_limit")
            if isinstance(limit, int) and token <= limit:
                return token
            raise InvalidCursor("cursor is not a token of this node: subscribe afresh")
        plain = self._permute(await self._secret(), token & (TOKEN_BIT - 1),
                              range(ROUNDS - 1, -1, -1))
        position = plain >> NONCE_BITS
        if position > await self._store.last_change_cursor():
            raise InvalidCursor("cursor is not a token of this node: subscribe afresh")
        return position
