"""``renkei demo``: run the demo federation (three cities and a national agency)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from .common import run


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="run the demo federation on 127.0.0.1 and explain it")
    p.add_argument("--keep-running", action="store_true",
                   help="leave the nodes up (read access open on loopback) and print URLs")
    p.add_argument("--data-dir", type=Path,
                   help="keep the demo's data here (default: a fresh temporary directory, "
                        "removed at the end)")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo.scenario import run_demo

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        demo = asyncio.create_task(run_demo(sys.stdout, data_dir=args.data_dir,
                                            keep_running=args.keep_running, stop_event=stop))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({demo, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if demo in done:
            stopper.cancel()
            return demo.result()
        if args.keep_running:
            return await demo  # it waits for the same event, then stops every server
        # Ctrl-C (or SIGTERM) before the end: cancel the demo; its finally stops every server.
        demo.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await demo
        print("interrupted: every server stopped", file=sys.stderr, flush=True)
        return 130

    return run(main())
