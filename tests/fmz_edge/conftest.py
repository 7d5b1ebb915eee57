"""Fixtures for these tests. The harness lives in ``fmz_harness.py``: test modules import it by that unique name."""

from ctp_front import front
from fmz_harness import edge

__all__ = ["edge", "front"]
