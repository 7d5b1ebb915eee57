"""Futu ↔ domain tables. futu-api's enums are plain strings (``futu.OrderStatus.SUBMITTED ==
"SUBMITTED"``), so the tables are written with those values and stay importable without loading the
SDK; ``tests/td_exec/futu/test_mapping.py`` checks them against futu-api's own constant lists.
"""

from __future__ import annotations

from tradebus.schemas.orders import OrderStatus, OrderType, Side, TimeInForce

VENUE = "futu"
MARKETS: tuple[str, ...] = ("HK", "US")  # trade markets of OpenSecTradeContext that opend_sim serves

SIDE_TO_FUTU: dict[Side, str] = {Side.BUY: "BUY", Side.SELL: "SELL"}
FUTU_TO_SIDE: dict[str, Side] = {
    **{v: k for k, v in SIDE_TO_FUTU.items()},
    # OpenD may report short sells and buy-backs on margin accounts; they are still a sell / a buy
    "SELL_SHORT": Side.SELL,
    "BUY_BACK": Side.BUY,
}

ORDER_TYPE_TO_FUTU: dict[OrderType, str] = {OrderType.LIMIT: "NORMAL", OrderType.MARKET: "MARKET"}
FUTU_TO_ORDER_TYPE: dict[str, OrderType] = {v: k for k, v in ORDER_TYPE_TO_FUTU.items()}

# Only DAY: opend_sim (and OpenD for HK stocks) honours no other time in force we model; GTC is a
# futu choice our domain does not have.
TIF_TO_FUTU: dict[TimeInForce, str] = {TimeInForce.DAY: "DAY"}
FUTU_TO_TIF: dict[str, TimeInForce] = {v: k for k, v in TIF_TO_FUTU.items()}

ENV_REAL = "REAL"
ENV_SIMULATE = "SIMULATE"

# Every futu OrderStatus. A state is REJECTED only where the status itself is the venue's refusal;
# TIMEOUT means OpenD does not know either, so the order stays unknown until a query settles it.
FUTU_TO_STATUS: dict[str, OrderStatus] = {
    "N/A": OrderStatus.UNKNOWN,  # OrderStatus.NONE
    "UNSUBMITTED": OrderStatus.SUBMITTED,  # held by the broker (e.g. before the session opens)
    "WAITING_SUBMIT": OrderStatus.SUBMITTED,
    "SUBMITTING": OrderStatus.SUBMITTED,
    "SUBMIT_FAILED": OrderStatus.REJECTED,
    "TIMEOUT": OrderStatus.UNKNOWN,
    "SUBMITTED": OrderStatus.ACCEPTED,
    "FILLED_PART": OrderStatus.PARTIALLY_FILLED,
    "FILLED_ALL": OrderStatus.FILLED,
    "CANCELLING_PART": OrderStatus.PENDING_CANCEL,
    "CANCELLING_ALL": OrderStatus.PENDING_CANCEL,
    "CANCELLED_PART": OrderStatus.CANCELLED,
    "CANCELLED_ALL": OrderStatus.CANCELLED,
    "FAILED": OrderStatus.REJECTED,  # refused by the exchange / broker
    "DISABLED": OrderStatus.EXPIRED,  # 已失效: lapsed
    "DELETED": OrderStatus.CANCELLED,  # 已删除: only unfilled orders can be deleted
    "FILL_CANCELLED": OrderStatus.REJECTED,  # 成交被撤销: the fills were voided, the order is void
}

# Deal statuses that are a real fill. CANCELLED/CHANGED deals are corrections we do not fold.
DEAL_OK = frozenset({"OK", "N/A"})


def split_code(code: str) -> tuple[str, str]:
    """``"HK.00700"`` → ``("HK", "00700")``; ``"US.BRK.B"`` keeps the dot in the symbol."""
    exchange, _, symbol = code.partition(".")
    return exchange, symbol


def join_code(exchange: str, symbol: str) -> str:
    return f"{exchange}.{symbol}"


def status_of(futu_status: str) -> OrderStatus:
    """An unknown status from a newer OpenD fails safe: the order becomes unknown, never terminal."""
    return FUTU_TO_STATUS.get(futu_status, OrderStatus.UNKNOWN)
