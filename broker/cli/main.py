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
from ..logs import FORMATS, LEVELS, configure
from ..telemetry.logs import install as log_trace_ids

# Command groups, each a module with ``register(subparsers)``; kept explicit (no plugin magic).
GROUPS = ("demo", "node", "authority", "mapping", "agreement", "audit", "client", "database",
          "operator", "peers", "catalog")

EXIT_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="renkei",
        description="Renkei (連携): federated interoperability broker between City OS nodes.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--log-format", choices=FORMATS,
                        default=os.environ.get("RENKEI_LOG_FORMAT") or "text",
                        help="log lines on standard error: text, json (JSON lines) or logfmt "
                             "(default: $RENKEI_LOG_FORMAT, else text)")
    parser.add_argument("--log-level", choices=LEVELS,
                        default=os.environ.get("RENKEI_LOG_LEVEL") or None,
                        help="least severe level logged (default: info for `node run` and "
                             "`authority serve`, warning for other commands)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    import importlib

    for group in GROUPS:
        module = importlib.import_module(f"{__package__}.{group}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.log_format not in FORMATS:  # from the environment: argparse did not check it
        parser.error(f"RENKEI_LOG_FORMAT must be one of {', '.join(FORMATS)}")
    if args.log_level is not None and args.log_level not in LEVELS:
        parser.error(f"RENKEI_LOG_LEVEL must be one of {', '.join(LEVELS)}")
    # Servers log their access lines and state changes at info; one-shot commands only warn.
    level = args.log_level or ("debug" if args.debug else
                               "info" if getattr(args, "serves", False) else "warning")
    configure(args.log_format, level)
    # A line logged inside a recorded span carries its trace id (issue 17).
    log_trace_ids(logging.getLogger().handlers)
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
