"""The library's commands and the one dispatcher every ``tradebus`` entry point runs.

The library knows no service, so ``up`` (the supervisor, ``services/supervisor``) is not in this table:
the ``tradebus`` console script is ``supervisor.main``, which adds it. ``python -m tradebus`` offers the
library commands alone (the containers' health checks use it).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command → (module with a ``<function>(argv, config_path) -> int``, function, one-line help).
Command = tuple[str, str, str]

LIBRARY_COMMANDS: dict[str, Command] = {
    "status": ("tradebus.cli.status", "status_main", "health of every service, read over the bus"),
    "tail": ("tradebus.cli.tail", "tail_main",
             "print decoded bus messages, one JSON object per line: tradebus tail 'md.tick.>'"),
    "verify-code": ("tradebus.cli.verify_code", "verify_code_main",
                    "finish an OpenD login: tradebus verify-code 123456 (or init / status)"),
    "healthcheck": ("tradebus.cli.healthcheck", "healthcheck_main",
                    "exit 0 when a service's /healthz answers 200: tradebus healthcheck 9101"),
    "nats-conf": ("tradebus.cli.nats_conf", "nats_conf_main",
                  "print the nats.conf (one user per service) generated from the permission table"),
    "asyncapi": ("tradebus.cli.asyncapi", "asyncapi_main",
                 "print the bus contract as AsyncAPI 3.0 (docs/asyncapi.yaml): channels, payloads, users"),
    "user": ("tradebus.cli.user", "user_main",
             "edge users: tradebus user add NAME --accounts ctp:000001 [--fmz] | list | remove NAME"),
}


def _usage(commands: dict[str, Command]) -> str:
    lines = [f"  {name:<12}{text}" for name, (_, _, text) in commands.items()]
    return "tradebus [--config FILE] COMMAND [...]\n\ncommands:\n" + "\n".join(lines) + "\n"


def dispatch(commands: dict[str, Command], argv: list[str] | None = None) -> None:
    """Parse ``[--config FILE] COMMAND ...`` and exit with the command's status."""
    argv = sys.argv[1:] if argv is None else argv
    usage = _usage(commands)
    parser = argparse.ArgumentParser(prog="tradebus", usage=usage, add_help=False)
    parser.add_argument("--config", help="TOML configuration file (default: $TRADEBUS_CONFIG, else defaults)")
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("command", nargs="?")
    args, rest = parser.parse_known_args(argv)
    if (args.help and not args.command) or not args.command:
        print(usage, end="")
        sys.exit(0 if args.help else 2)
    if args.help:
        rest = ["--help", *rest]
    if args.command not in commands:
        print(f"tradebus: unknown command {args.command!r}\n\n{usage}", end="", file=sys.stderr)
        sys.exit(2)
    module_name, function, _ = commands[args.command]
    sys.exit(getattr(importlib.import_module(module_name), function)(rest, args.config))


def main(argv: list[str] | None = None) -> None:
    dispatch(LIBRARY_COMMANDS, argv)
