"""``[[subscriptions]]`` and the federation knobs in a node's config."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.config import load_config
from broker.errors import ConfigError

BASE = """
[node]
id = "jp-172049"
role = "city"

[trust]
authority_jwk = "authority.jwk.json"

[federation]
forward_aggregates = true
index_max_entities = 0
"""


def write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "renkei.toml"
    path.write_text(BASE + extra, encoding="utf-8")
    return path


def test_subscriptions_and_federation_options_are_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[[subscriptions]]
peer = "jp-172022"
types = ["ShelterOccupancy"]
purpose = "disaster_response"
heartbeat_seconds = 5
"""))
    (sub,) = config.subscriptions
    assert (sub.peer, sub.types, sub.purpose, sub.agreement, sub.heartbeat_seconds) == (
        "jp-172022", ("ShelterOccupancy",), "disaster_response", "", 5)
    assert config.federation.forward_aggregates is True
    assert config.federation.index_max_entities == 0


@pytest.mark.parametrize(("extra", "key"), [
    ('[[subscriptions]]\ntypes = ["A"]\npurpose = "x"\n', "subscriptions[0].peer"),
    ('[[subscriptions]]\npeer = "jp-1"\ntypes = []\npurpose = "x"\n', "subscriptions[0].types"),
    ('[[subscriptions]]\npeer = "jp-1"\ntypes = ["A"]\npurpose = "x"\ncursor = 3\n',
     "subscriptions[0].cursor"),
])
def test_a_bad_subscription_names_the_key(tmp_path: Path, extra: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, extra))
    assert caught.value.key == key
