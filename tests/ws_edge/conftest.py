"""Fixtures for these tests. The harness lives in ``ws_harness.py``: test modules import it by that unique name."""

from ctp_front import front
from node_ws import node_path
from ws_harness import stack

__all__ = ["front", "node_path", "stack"]
