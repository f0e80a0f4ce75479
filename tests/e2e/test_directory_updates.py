"""A node adopts newer signed directories and refuses older ones, also after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from broker.demo.harness import LocalFederation, NodeSpec
from broker.errors import PeerRejected
from trust.errors import DirectoryError

CITY, AGENCY = "jp-172022", "jp-gov-bousai"


async def test_a_node_refuses_a_rolled_back_directory_even_after_a_restart(
        tmp_path: Path) -> None:
    fed = LocalFederation(tmp_path)
    try:
        await fed.start_authority()
        await fed.add_node(NodeSpec(CITY, "city", "七尾市", "Nanao", http=False))
        assert await fed.publish() == 1
        assert fed.authority is not None
        old = fed.authority.authority.published()
        assert old is not None
        assert await fed.publish() == 2
        node = fed.nodes[CITY]
        with pytest.raises(DirectoryError) as refused:
            await node.install_directory(old)
        assert refused.value.code == "directory_rollback"

        node = await fed.restart(CITY)
        assert node.directory.version == 2  # the stored copy is the high-water mark
        with pytest.raises(DirectoryError) as again:
            await node.install_directory(old)
        assert again.value.code == "directory_rollback"
    finally:
        await fed.stop()


async def test_a_directory_another_replica_stored_revokes_a_member_here_within_seconds(
        tmp_path: Path) -> None:
    # Issue 12: a member revoked in a new directory kept working on the replicas that had not
    # polled the authority yet (every directory_poll_seconds, 5 minutes). A replica that
    # fetches the directory keeps it in the shared store; every node adopts a newer stored
    # one within FOLLOW_SECONDS, and the revoked member's calls are refused.
    fed = LocalFederation(tmp_path)
    try:
        await fed.start_authority()
        for member, role in ((CITY, "city"), (AGENCY, "agency")):
            await fed.add_node(NodeSpec(member, role, member, member, http=False))
        await fed.publish()
        await fed.agree(provider=CITY, consumer=AGENCY, agreement_id="agr-1",
                        purpose="disaster_response", types={"EvacuationSite": ["capacity"]})
        city, agency = fed.nodes[CITY], fed.nodes[AGENCY]
        channel = agency.peers()[CITY]
        await channel.catalog("disaster_response", 5.0)  # answered
        assert fed.authority is not None
        fed.authority.authority.revoke(AGENCY)
        fed.authority.authority.publish(fed.clock.now())
        jws = fed.authority.authority.published()
        assert jws is not None
        held = city.directory.version
        # As the other replica does after fetching it: verified and kept in the shared store.
        await city.store.put_directory(held + 1, jws, fed.clock.now())
        assert city.directory.version == held  # this node has not polled the authority
        for _ in range(50):
            await asyncio.sleep(0.1)
            if city.directory.version == held + 1:
                break
        assert city.directory.version == held + 1
        with pytest.raises(PeerRejected) as refused:
            await channel.catalog("disaster_response", 5.0)
        assert refused.value.reason == "member_revoked"
    finally:
        await fed.stop()
