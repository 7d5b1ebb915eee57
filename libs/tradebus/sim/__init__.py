"""The simulated market shared by ``opend_sim`` and ``ctp_sim``: instruments, prices, matching, accounts."""

from tradebus.sim.instruments import a_share_instruments, default_instruments, hk_tick_size, synthetic_futures
from tradebus.sim.market import SimMarket
from tradebus.sim.types import (
    Funds,
    InstrumentKind,
    Offset,
    OrderType,
    Position,
    Quote,
    RejectReason,
    Side,
    SimInstrument,
    SimOrder,
    SimOrderStatus,
    SimReject,
    SimTrade,
)

__all__ = [
    "Funds",
    "InstrumentKind",
    "Offset",
    "OrderType",
    "Position",
    "Quote",
    "RejectReason",
    "Side",
    "SimInstrument",
    "SimMarket",
    "SimOrder",
    "SimOrderStatus",
    "SimReject",
    "SimTrade",
    "a_share_instruments",
    "default_instruments",
    "hk_tick_size",
    "synthetic_futures",
]
