"""The ``tradebus`` command."""

from __future__ import annotations

import argparse
import sys

USAGE = """tradebus [--config FILE] COMMAND [...]

commands:
  up        run NATS, the venue simulators and every service on this machine (Ctrl-C stops all)
  status    health of every service, read over the bus
  tail      print decoded bus messages, one JSON object per line: tradebus tail 'md.tick.>'
"""


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="tradebus", usage=USAGE, add_help=False)
    parser.add_argument("--config", help="TOML configuration file (default: $TRADEBUS_CONFIG, else defaults)")
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("command", nargs="?")
    args, rest = parser.parse_known_args(argv)
    if (args.help and not args.command) or not args.command:
        print(USAGE, end="")
        sys.exit(0 if args.help else 2)
    if args.help:
        rest = ["--help", *rest]
    if args.command == "up":
        from tradebus.cli.up import up_main

        code = up_main(rest, args.config)
    elif args.command == "status":
        from tradebus.cli.status import status_main

        code = status_main(rest, args.config)
    elif args.command == "tail":
        from tradebus.cli.tail import tail_main

        code = tail_main(rest, args.config)
    else:
        print(f"tradebus: unknown command {args.command!r}\n\n{USAGE}", end="", file=sys.stderr)
        code = 2
    sys.exit(code)
