"""Fixtures for these tests. The harness lives in ``broker_harness.py``: test modules import it by that unique name."""

from broker_harness import brokers

__all__ = ["brokers"]
