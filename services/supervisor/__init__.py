"""supervisor: ``tradebus up``, the whole system on one machine (NATS, the simulators, every service)."""
