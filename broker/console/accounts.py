"""Operator accounts: names, roles and scrypt password hashes (``hashlib.scrypt``, stdlib).

Operators are people who run this node; they are not API clients and never get a bearer
token. Hashing is CPU and memory heavy on purpose, so it runs off the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets

from trust.clock import Clock

from ..errors import BadRequest
from ..store.base import OperatorRow, Store

ROLES = ("viewer", "admin")
# RFC 7914 parameters: N=2^15, r=8 takes ~0.1 s and 32 MiB per hash on a current core.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1
_MAXMEM = 64 * 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 12


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R,
                  p: int = SCRYPT_P) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64 without padding)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM,
                            dklen=32)
    return "$".join(["scrypt", str(n), str(r), str(p), _b64(salt), _b64(digest)])


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` hashes to ``stored``; False for a malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r),
                                p=int(p), maxmem=_MAXMEM, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def new_password() -> str:
    """A random password to hand to a new operator once (about 120 bits)."""
    return secrets.token_urlsafe(15)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise BadRequest("an operator name is 1-64 characters of letters, digits and "
                         "'.', '_', '@', '-' (starting with a letter or digit)")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}")
    return role


class OperatorAccounts:
    """Adding operators and checking their passwords, on the node's store."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        # A hash to check when the name is unknown, so that a wrong name costs the same time
        # as a wrong password (no name enumeration by timing).
        self._decoy = hash_password(secrets.token_urlsafe(16))

    async def add(self, name: str, role: str, password: str) -> OperatorRow:
        check_name(name)
        check_role(role)
        if len(password) < MIN_PASSWORD:
            raise BadRequest(f"a console password needs at least {MIN_PASSWORD} characters")
        hashed = await asyncio.to_thread(hash_password, password)
        row = OperatorRow(name, role, hashed, self._clock.now())
        await self._store.add_operator(row)
        return row

    async def authenticate(self, name: str, password: str) -> OperatorRow | None:
        """The operator when the password is right, else None (same cost either way)."""
        row = await self._store.get_operator(name) if _NAME.fullmatch(name) else None
        stored = row.password_hash if row is not None else self._decoy
        ok = await asyncio.to_thread(verify_password, password, stored)
        return row if ok and row is not None else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
