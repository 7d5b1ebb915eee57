"""The ``tradebus`` command."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

# command → (module under tradebus.cli with a ``<command>_main(argv, config_path) -> int``, one-line help).
# A command whose module is absent is simply not offered.
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("up", "run NATS, the venue simulators and every service on this machine (Ctrl-C stops all)"),
    "status": ("status", "health of every service, read over the bus"),
    "tail": ("tail", "print decoded bus messages, one JSON object per line: tradebus tail 'md.tick.>'"),
    "verify-code": ("verify_code", "finish an OpenD login: tradebus verify-code 123456 (or init / status)"),
    "healthcheck": ("healthcheck", "exit 0 when a service's /healthz answers 200: tradebus healthcheck 9101"),
    "nats-conf": ("nats_conf", "print the nats.conf (one user per service) generated from the permission table"),
    "asyncapi": ("asyncapi", "print the bus contract as AsyncAPI 3.0 (docs/asyncapi.yaml): channels, payloads, users"),
    "user": ("user", "edge users: tradebus user add NAME --accounts ctp:000001 [--fmz] | list | remove NAME"),
}


def _available() -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for command, (module, text) in COMMANDS.items():
        if importlib.util.find_spec(f"tradebus.cli.{module}") is not None:
            found[command] = (module, text)
    return found


def _usage(commands: dict[str, tuple[str, str]]) -> str:
    lines = [f"  {name:<12}{text}" for name, (_, text) in commands.items()]
    return "tradebus [--config FILE] COMMAND [...]\n\ncommands:\n" + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    commands = _available()
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
    module_name = commands[args.command][0]
    module = importlib.import_module(f"tradebus.cli.{module_name}")
    sys.exit(getattr(module, f"{module_name}_main")(rest, args.config))
