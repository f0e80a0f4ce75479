"""A node's TOML config: valid files become a frozen object; bad ones name file and key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from broker.config import load_config
from broker.errors import ConfigError

GOOD = """
[node]
id = "jp-172022"
role = "city"
name_ja = "七尾市"
data_dir = "data"

[grpc]
listen = "127.0.0.1:7443"

[trust]
authority_jwk = "authority.jwk.json"
algorithms = ["ES256"]

[[sources]]
name = "evacuation_sites"
rules = "bundled:nanao_evacuation_sites"
path = "sites.csv"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "renkei.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_file_becomes_a_frozen_typed_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.id == "jp-172022" and config.name_ja == "七尾市"
    assert config.data_dir == tmp_path / "data"  # relative to the config file
    assert config.sources[0].path == tmp_path / "sites.csv"
    assert config.trust is not None and config.trust.algorithms == ("ES256",)
    assert config.grpc.listen == "127.0.0.1:7443" and config.http.max_body_bytes == 1 << 20
    assert config.http.notification_allow == ()  # notifications go to public addresses only
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(("change", "key", "expected"), [
    (("id = \"jp-172022\"", ""), "node.id", "required"),
    (("role = \"city\"", "role = \"town\""), "node.role", "one of"),
    (("listen = \"127.0.0.1:7443\"", "listen = \"7443\""), "grpc.listen", "HOST:PORT"),
    (("algorithms = [\"ES256\"]", "algorithms = [\"HS256\"]"), "trust.algorithms", "subset"),
    (("algorithms = [\"ES256\"]", "algoritms = [\"ES256\"]"), "trust.algoritms", "unknown key"),
    (("[grpc]", "[grpc]\nmax_message_bytes = \"big\""), "grpc.max_message_bytes", "integer"),
    (("path = \"sites.csv\"", ""), "sources[0].path", "required"),
    (("path = \"sites.csv\"", "path = \"sites.csv\"\nencoding = \"latin-1\""),
     "sources[0].encoding", "not one Renkei reads"),
    (("[grpc]", "[http]\nnotification_allow = [\"10.0.0.0/33\"]\n[grpc]"),
     "http.notification_allow", "CIDRs"),
    # The open development mode is loopback-only: a node listening elsewhere does not start.
    (("[grpc]", "[http]\nlisten = \"0.0.0.0:9090\"\ndev_open_on_loopback = true\n[grpc]"),
     "http.dev_open_on_loopback", "loopback"),
])
def test_a_bad_key_names_the_file_the_key_and_what_was_expected(
        tmp_path: Path, change: tuple[str, str], key: str, expected: str) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert str(path) in str(info.value) and expected in str(info.value)


def test_a_missing_file_and_bad_toml_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[node\nid ="))


def test_notification_allow_holds_normalized_networks(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD.replace(
        "[grpc]", '[http]\nnotification_allow = ["127.0.0.1/8", "fd00::/8"]\n[grpc]')))
    assert config.http.notification_allow == ("127.0.0.0/8", "fd00::/8")


def test_postgresql_needs_a_dsn(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD + '\n[store]\nbackend = "postgresql"\n'))
    assert info.value.key == "store.dsn"


def test_data_dir_defaults_to_the_config_files_directory(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD.replace('data_dir = "data"', "")))
    assert config.data_dir == tmp_path
    assert config.sqlite_path == tmp_path / "renkei.db"


def test_dev_open_on_loopback_is_accepted_on_a_loopback_listen(tmp_path: Path) -> None:
    for listen in ("127.0.0.1:0", "[::1]:9090", "localhost:9090"):
        config = load_config(write(tmp_path, GOOD.replace(
            "[grpc]", f'[http]\nlisten = "{listen}"\ndev_open_on_loopback = true\n[grpc]')))
        assert config.http.dev_open_on_loopback


def test_a_context_copy_that_differs_from_the_bundled_one_names_its_key(tmp_path: Path) -> None:
    url = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
    (tmp_path / "core.jsonld").write_text('{"@context": {}}', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD + f'\n[contexts]\n"{url}" = "core.jsonld"\n'))
    assert info.value.key == f"contexts.{url}" and "differs from the bundled" in str(info.value)


def test_sources_need_unique_names_and_rule_paths_are_relative_to_the_config(
        tmp_path: Path) -> None:
    source = '\n[[sources]]\nname = "a"\nrules = "rules/a.yaml"\npath = "a.csv"\n'
    config = load_config(write(tmp_path, GOOD + source + "\n[ingest]\nwatch_seconds = 2\n"))
    assert config.sources[1].rules == str(tmp_path / "rules" / "a.yaml")
    assert config.sources[1].path == tmp_path / "a.csv"
    assert config.ingest.watch_seconds == 2.0
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD + source + source))
    assert info.value.key == "sources[2].name"
