"""A console client for tests: sign in, keep the cookies, read the CSRF token of a page.

Cookies are handled by hand: the console's are ``Secure`` and these tests speak plain HTTP
to 127.0.0.1 (a browser treats loopback as a secure origin; aiohttp's cookie jar does not).
"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from typing import Any

import aiohttp

from broker.console.accounts import OperatorAccounts
from broker.node import Node

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class ConsoleClient:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def _keep(self, response: aiohttp.ClientResponse) -> None:
        for header in response.headers.getall("Set-Cookie", []):
            self.set_cookie_headers.append(header)
            for name, morsel in SimpleCookie(header).items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)

    def _cookie_header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} \
            if self.cookies else {}

    async def get(self, path: str) -> tuple[int, str, Any]:
        async with self.http.get(self.base + path, headers=self._cookie_header(),
                                 allow_redirects=False) as r:
            self._keep(r)
            return r.status, await r.text(), r.headers

    async def post(self, path: str, data: dict[str, str]) -> tuple[int, str, Any]:
        async with self.http.post(self.base + path, data=data, headers=self._cookie_header(),
                                  allow_redirects=False) as r:
            self._keep(r)
            return r.status, await r.text(), r.headers

    async def csrf(self, path: str) -> str:
        status, text, _ = await self.get(path)
        assert status == 200, (status, text[:300])
        match = CSRF.search(text)
        assert match, text[:500]
        return match.group(1)

    async def sign_in(self, name: str, password: str) -> None:
        token = await self.csrf("/console/login")
        status, text, headers = await self.post("/console/login", {
            "csrf": token, "name": name, "password": password})
        assert status == 303 and headers["Location"] == "/console/federation", (status, text)


async def add_operator(node: Node, name: str, role: str, password: str) -> None:
    await OperatorAccounts(node.store, node.clock).add(name, role, password)
