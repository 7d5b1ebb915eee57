"""Fixtures for these tests. The harness lives in ``console_harness.py``: test modules import it by that unique name."""

from console_harness import browser, console_stack

__all__ = ["browser", "console_stack"]
