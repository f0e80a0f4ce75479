"""Entry point of the ``renkei`` console script.

Every subcommand has ``--help``. Errors end the command with a one-line reason and a non-zero
exit status; the traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from ..errors import BrokerError

# Command groups, each a module with ``register(subparsers)``; kept explicit (no plugin magic).
GROUPS = ("demo", "node", "authority", "mapping", "agreement", "audit", "client", "database")

EXIT_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="renkei",
        description="Renkei (連携): federated interoperability broker between City OS nodes.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    import importlib

    for group in GROUPS:
        module = importlib.import_module(f"{__package__}.{group}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("renkei: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`renkei map ... | head`): not an error worth a message.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # the one place that turns any failure into one line
        if args.debug:
            raise
        print(f"renkei: error: {describe(exc)}", file=sys.stderr)
        return EXIT_ERROR


def describe(exc: BaseException) -> str:
    """One line for a failure: the stable code and the safe message when we have them."""
    code = getattr(exc, "code", None)
    if isinstance(exc, BrokerError) or (isinstance(code, str) and code):
        return f"{exc} [{code}]"
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return f"{exc.strerror}: {exc.filename}"
    if isinstance(exc, OSError):
        return str(exc)
    return f"internal error ({type(exc).__name__}: {exc}); run with --debug for the traceback"


if __name__ == "__main__":
    sys.exit(main())
