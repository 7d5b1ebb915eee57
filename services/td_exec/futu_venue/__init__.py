"""The Futu venue adapter of td_exec: futu-api trade contexts behind :class:`td_exec.venue.TradeVenue`."""

from td_exec.futu_venue.adapter import FutuVenue

__all__ = ["FutuVenue"]
