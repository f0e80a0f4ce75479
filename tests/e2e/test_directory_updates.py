"""A node adopts newer signed directories and refuses older ones, also after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.demo.harness import LocalFederation, NodeSpec
from trust.errors import DirectoryError

CITY = "jp-172022"


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
