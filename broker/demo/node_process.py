"""One node of a local federation in a child process, for fault tests and benchmarks.

A real process can be killed (SIGKILL mid-stream), stopped (SIGSTOP: it accepts connections
and never answers) and continued, which an in-process node cannot. The parent drives the child
with one JSON object per line on its stdin and reads one JSON reply per line on its stdout:

    child  → {"endpoint": "127.0.0.1:PORT"}            once started
    parent → {"cmd": "refresh"}                        fetch the newest directory
    parent → {"cmd": "countersign", "agreement_id": …} countersign a proposal it holds
    parent → {"cmd": "stop"}                           stop gracefully and exit

Run as ``python -m broker.demo.node_process CONFIG``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ..config import load_config
from ..node import Node

START_TIMEOUT = 60.0


class ChildNode:
    """The parent's handle on a node running in a child process."""

    def __init__(self, member_id: str, process: asyncio.subprocess.Process,
                 endpoint: str) -> None:
        self.id = member_id
        self.process = process
        self.endpoint = endpoint
        self._lock = asyncio.Lock()

    @classmethod
    async def start(cls, member_id: str, config_file: Path) -> ChildNode:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "broker.demo.node_process", str(config_file),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
            endpoint = json.loads(line)["endpoint"]
        except (TimeoutError, ValueError, KeyError) as exc:
            process.kill()
            await process.wait()
            raise RuntimeError(f"child node {member_id} did not start") from exc
        return cls(member_id, process, endpoint)

    async def command(self, cmd: str, timeout: float = 30.0, **args: Any) -> dict[str, Any]:
        """Send one command and wait for its reply."""
        assert self.process.stdin is not None and self.process.stdout is not None
        async with self._lock:
            self.process.stdin.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
            await self.process.stdin.drain()
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.id}: {cmd} failed: {reply['error']}")
        return reply

    def pause(self) -> None:
        """SIGSTOP: the node keeps its sockets open but answers nothing."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    async def kill(self) -> None:
        """SIGKILL: the node dies at once, connections reset, nothing is flushed."""
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        """Graceful stop; kills the child if it does not exit in time."""
        if self.process.returncode is not None:
            return
        try:
            self.resume()
            await self.command("stop", timeout=10.0)
            await asyncio.wait_for(self.process.wait(), 10.0)
        except (TimeoutError, RuntimeError, ValueError, OSError, BrokenPipeError,
                ConnectionResetError):
            await self.kill()


async def serve(config_file: Path) -> None:
    """The child side: start the node, then obey the parent's commands until told to stop."""
    node = await Node.start(load_config(config_file))
    out = sys.stdout

    def reply(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    reply({"endpoint": node.grpc_endpoint})
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break  # the parent went away
            command = json.loads(line)
            try:
                if command["cmd"] == "stop":
                    reply({"ok": True})
                    break
                if command["cmd"] == "refresh":
                    reply({"version": await node.refresh_directory()})
                elif command["cmd"] == "countersign":
                    view = await node.exchange.countersign(command["agreement_id"])
                    reply({"state": view.state})
                else:
                    reply({"error": f"unknown command {command['cmd']!r}"})
            except Exception as exc:  # report to the parent, keep serving
                reply({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        await node.stop()


def main() -> None:
    asyncio.run(serve(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
