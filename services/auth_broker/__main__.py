"""``python -m auth_broker [--config F] [--health-port N]``."""

from __future__ import annotations

from auth_broker.broker import AuthBroker
from tradebus.runtime import run_service


def main() -> None:
    run_service(AuthBroker, name="auth_broker")


if __name__ == "__main__":
    main()
