"""``tradebus nats-conf``: print the nats.conf generated from the permission table."""

from __future__ import annotations

from tradebus.permissions import render_nats_conf


def nats_conf_main(argv: list[str], config_path: str | None) -> int:
    del argv, config_path  # the table is the only input
    print(render_nats_conf(), end="")
    return 0
