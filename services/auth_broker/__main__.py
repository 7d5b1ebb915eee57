"""``python -m auth_broker [--config F] [--health-port N]``.

``[auth] opend = "external"`` runs the broker that follows an OpenD run elsewhere; otherwise the broker
runs and supervises OpenD itself (``auto`` means that outside ``tradebus up``).
"""

from __future__ import annotations

from auth_broker.broker import AuthBroker
from auth_broker.external import ExternalOpenDBroker
from tradebus.config import Config
from tradebus.runtime import Service, run_service


def make_broker(config: Config) -> Service:
    return ExternalOpenDBroker(config) if config.auth.opend == "external" else AuthBroker(config)


def main() -> None:
    run_service(make_broker, name="auth_broker")


if __name__ == "__main__":
    main()
