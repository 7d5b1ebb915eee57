"""Fixtures for these tests. The harness lives in ``broker_harness.py``: test modules import it by that unique name."""

from broker_harness import brokers
from node_ws import node_path

__all__ = ["brokers", "node_path"]
