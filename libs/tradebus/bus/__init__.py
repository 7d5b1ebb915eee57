"""The bus: connect, declare streams and buckets, publish with ids, request with timeouts, replay."""

from tradebus.bus.connection import Bus, answerable, connect
from tradebus.bus.errors import BusError, RequestFailed, RequestTimeout
from tradebus.bus.replay import fold_stream, last_message
from tradebus.bus.topology import BUCKETS, STREAMS, ensure_topology

__all__ = [
    "BUCKETS",
    "STREAMS",
    "Bus",
    "BusError",
    "RequestFailed",
    "RequestTimeout",
    "answerable",
    "connect",
    "ensure_topology",
    "fold_stream",
    "last_message",
]
