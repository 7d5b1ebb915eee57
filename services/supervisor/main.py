"""The ``tradebus`` command: the library's commands plus ``up``, the supervisor."""

from __future__ import annotations

from tradebus.cli.main import LIBRARY_COMMANDS, Command, dispatch

COMMANDS: dict[str, Command] = {
    "up": ("supervisor.up", "up_main",
           "run NATS, the venue simulators and every service on this machine (Ctrl-C stops all)"),
    **LIBRARY_COMMANDS,
}


def main(argv: list[str] | None = None) -> None:
    dispatch(COMMANDS, argv)
