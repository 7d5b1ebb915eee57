"""tradebus: Futu OpenD and CTP on one NATS bus."""

__version__ = "0.1.0"
