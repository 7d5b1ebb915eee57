"""Fixtures for these tests; the harness is ``opend_console_harness.py``, imported by that unique name."""

from opend_console_harness import opend

__all__ = ["opend"]
