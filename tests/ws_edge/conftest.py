"""Fixtures for these tests. The harness lives in ``ws_harness.py``: test modules import it by that unique name."""

from ws_harness import stack

__all__ = ["stack"]
