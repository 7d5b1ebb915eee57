"""The OpenD API port served to the unmodified futu-api: framing, handshake, quotes and trading."""

from opend_sim.api.server import OpenDApiServer

__all__ = ["OpenDApiServer"]
