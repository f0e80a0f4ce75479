"""The NGSI-LD API speaks HTTPS with ``[http] tls_cert``/``tls_key`` (issue 14), and a node
whose API listens beyond loopback without TLS says so at start."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import aiohttp
import pytest

from broker.config import load_config
from broker.demo.harness import LocalFederation, NodeSpec
from broker.errors import ConfigError
from broker.identity import init_identity
from broker.node import Node

CITY = "jp-172022"
WARNING = "WITHOUT TLS"


async def test_https_with_tls_cert_and_key(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    fed = LocalFederation(tmp_path)
    await fed.start_authority()
    # The node's own certificate and key (made by `node init`) serve the API here.
    path = fed.write_config(NodeSpec(CITY, "city", "七尾市", "Nanao"))
    init_identity(load_config(path))
    text = path.read_text(encoding="utf-8").replace(
        '[http]\n', '[http]\ntls_cert = "tls.crt"\ntls_key = "tls.key"\n')
    path.write_text(text.replace('listen = "127.0.0.1:0"\ndev', 'listen = "0.0.0.0:0"\ndev'),
                    encoding="utf-8")
    node = await Node.start(load_config(path))
    try:
        assert node.http.url.startswith("https://")
        client = ssl.create_default_context(cafile=str(path.parent / "tls.crt"))
        client.check_hostname = False  # the certificate names the member, not 127.0.0.1
        async with aiohttp.ClientSession() as session:
            async with session.get(node.http.url + "/health", ssl=client) as resp:
                assert resp.status == 200 and (await resp.json())["node"] == CITY
            plain = node.http.url.replace("https://", "http://") + "/health"
            with pytest.raises(aiohttp.ClientError):
                async with session.get(plain) as resp:
                    await resp.read()
        assert WARNING not in caplog.text  # 0.0.0.0 with TLS: nothing to warn about
    finally:
        await node.stop()
        await fed.authority.stop()  # type: ignore[union-attr]


async def test_plain_http_beyond_loopback_warns_at_start(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    fed = LocalFederation(tmp_path)
    await fed.start_authority()
    # The console refuses plain HTTP beyond loopback; this test is about the API's warning.
    path = fed.write_config(NodeSpec(CITY, "city", "七尾市", "Nanao",
                                     extra_toml="[console]\nenabled = false\n"))
    init_identity(load_config(path))
    node = await Node.start(load_config(path))  # 127.0.0.1: no warning
    await node.stop()
    assert WARNING not in caplog.text
    path.write_text(path.read_text(encoding="utf-8").replace(
        'listen = "127.0.0.1:0"\ndev', 'listen = "0.0.0.0:0"\ndev'), encoding="utf-8")
    node = await Node.start(load_config(path))
    try:
        assert node.http.url.startswith("http://")
        warned = [r for r in caplog.records if WARNING in r.getMessage()]
        assert len(warned) == 1 and "tls_cert" in warned[0].getMessage()
    finally:
        await node.stop()
        await fed.authority.stop()  # type: ignore[union-attr]

    path.write_text(path.read_text(encoding="utf-8").replace(
        "[http]\n", '[http]\ntls_cert = "tls.crt"\n'), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "http.tls_key"
