"""td_exec's CTP adapter: :class:`CtpVenue` (see adapter.py and docs/td_exec_ctp.md)."""

from __future__ import annotations

from td_exec.ctp_venue.adapter import CtpVenue

__all__ = ["CtpVenue"]
