"""A node replica as a process, for the replica tests: ``python replica_node.py CONFIG``.

Stand-in for ``renkei node run --config CONFIG`` until the lead's CLI is on this branch (the
lead should switch the test to the CLI): start the node from its config, print
``READY <grpc endpoint>``, run until SIGTERM, stop cleanly.

``--load PREFIX --count N`` also writes N EvacuationSite entities through this replica, as the
HTTP API's POST /entities will (create in the store, wake local streams, audit the write),
and prints ``ACK <entity id>`` only after the write and its audit entry committed: what the
test holds against the store after killing a replica with SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from broker.config import load_config
from broker.node import Node
from broker.service.entity_write import entity_write


def site(prefix: str, n: int) -> dict[str, object]:
    lon, lat = 136.9 + (n % 100) / 1000, 37.0 + (n // 100) / 1000
    return {"id": f"urn:ngsi-ld:EvacuationSite:jp-172022:{prefix}{n:05d}",
            "type": "EvacuationSite",
            "name": {"type": "LanguageProperty", "languageMap": {"ja": f"避難所{n}"}},
            "capacity": {"type": "Property", "value": 50 + n % 300},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [lon, lat]}}}


async def load(node: Node, prefix: str, count: int) -> None:
    for n in range(count):
        write = entity_write(site(prefix, n))
        await node.store.create_entity(write, node.clock.now())
        node.changes.notify()
        await node.audit.record("loadgen", "", "write", write.content_hash, True, "allowed", 1)
        print(f"ACK {write.id}", flush=True)
        await asyncio.sleep(0.005)


async def main(args: argparse.Namespace) -> None:
    node = await Node.start(load_config(Path(args.config)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(f"READY {node.grpc_endpoint}", flush=True)
    writer = asyncio.create_task(load(node, args.load, args.count)) if args.load else None
    try:
        await stop.wait()
    finally:
        if writer is not None:
            writer.cancel()
        await node.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--load", default="", metavar="PREFIX")
    parser.add_argument("--count", type=int, default=0)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main(parser.parse_args()))
