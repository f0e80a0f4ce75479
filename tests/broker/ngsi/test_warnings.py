"""NGSILD-Warning values for the peers that did not answer a federated read."""

from __future__ import annotations

import re

from broker.federation.fanout import PeerStatus
from broker.ngsi.scope import IDS_PER_WARNING, MAX_WARNING_LINES, warning_headers


def test_a_few_failed_peers_get_a_warning_each_and_answering_peers_none() -> None:
    statuses = [PeerStatus("jp-100001", "ok", 5), PeerStatus("jp-100002", "denied",
                                                             reason="no_agreement"),
                PeerStatus("jp-100003", "unavailable", message='say "no"')]
    assert warning_headers(statuses) == ['199 jp-100002 "denied: no_agreement"',
                                         "199 jp-100003 \"unavailable: say 'no'\""]


def test_many_failed_peers_are_one_line_per_kind_of_failure_naming_them() -> None:
    stopped = [f"jp-9{i:05d}" for i in range(87)]
    slow = [f"jp-8{i:05d}" for i in range(MAX_WARNING_LINES)]
    statuses = ([PeerStatus(p, "unavailable", reason="unavailable") for p in stopped]
                + [PeerStatus(p, "deadline_exceeded", reason="deadline_exceeded")
                   for p in slow]
                + [PeerStatus("jp-700000", "denied", reason="no_agreement")]
                + [PeerStatus(f"jp-6{i:05d}", "ok", 5) for i in range(1000)])
    lines = warning_headers(statuses)
    assert len(lines) == 3
    first, second, third = lines
    assert first.startswith('199 renkei "unavailable: unavailable: 87 peers: jp-900000 ')
    assert first.endswith(f' (+{87 - IDS_PER_WARNING} more)"')
    assert re.findall(r"jp-9\d{5}", first) == stopped[:IDS_PER_WARNING]
    assert second == ('199 renkei "deadline_exceeded: deadline_exceeded: '
                      f'{MAX_WARNING_LINES} peers: {" ".join(slow)}"')
    assert third == '199 renkei "denied: no_agreement: 1 peers: jp-700000"'
    # Every peer that did not answer is counted once.
    assert sum(int(re.search(r": (\d+) peers:", line)[1]) for line in lines) == 108
