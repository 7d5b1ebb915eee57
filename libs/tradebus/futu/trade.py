"""futu-api's trade vocabulary ↔ the bus's enums, and OpenD's wire numbers for the same words.

futu-api's enums are plain strings (``futu.OrderStatus.SUBMITTED == "SUBMITTED"``), so the tables are
written with those strings and stay importable without loading the SDK. Each table is written once, in
the direction natural to read; its inverse is generated. ``*_WIRE`` tables give the number OpenD puts
in the protobuf for a futu-api word (``Trd_Common.OrderStatus``, ``TrdSide``…), as futu-api's own
``load_dic()`` converts them. ``tests/foundation/test_futu_kit.py`` checks every string and number here
against futu-api. The rules behind the status table are in ``docs/td_exec_futu.md``.
"""

from __future__ import annotations

from tradebus.schemas.orders import OrderStatus, OrderType, Side, TimeInForce
from tradebus.tables import inverse

# futu-api's placeholder for "no value" in every enum (its NONE member)
NONE = "N/A"

SIDE_TO_FUTU: dict[Side, str] = {Side.BUY: "BUY", Side.SELL: "SELL"}
FUTU_TO_SIDE: dict[str, Side] = {
    **inverse(SIDE_TO_FUTU),
    # OpenD may report short sells and buy-backs on margin accounts; they are still a sell / a buy
    "SELL_SHORT": Side.SELL,
    "BUY_BACK": Side.BUY,
}

ORDER_TYPE_TO_FUTU: dict[OrderType, str] = {OrderType.LIMIT: "NORMAL", OrderType.MARKET: "MARKET"}
FUTU_TO_ORDER_TYPE: dict[str, OrderType] = inverse(ORDER_TYPE_TO_FUTU)

# Only DAY: opend_sim (and OpenD for HK stocks) honours no other time in force we model; GTC is a
# futu choice our domain does not have.
TIF_TO_FUTU: dict[TimeInForce, str] = {TimeInForce.DAY: "DAY"}
FUTU_TO_TIF: dict[str, TimeInForce] = inverse(TIF_TO_FUTU)

# futu-api's TrdEnv: a real-money account or a paper one
ENV_REAL = "REAL"
ENV_SIMULATE = "SIMULATE"

# Every futu OrderStatus. A state is REJECTED only where the status itself is the venue's refusal;
# TIMEOUT means OpenD does not know either, so the order stays unknown until a query settles it.
FUTU_TO_STATUS: dict[str, OrderStatus] = {
    NONE: OrderStatus.UNKNOWN,
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

# Deal statuses that are a real fill (a row without a status reads NONE). CANCELLED/CHANGED deals are
# corrections we do not fold.
DEAL_OK = frozenset({"OK", NONE})


def status_of(futu_status: str) -> OrderStatus:
    """An unknown status from a newer OpenD fails safe: the order becomes unknown, never terminal."""
    return FUTU_TO_STATUS.get(futu_status, OrderStatus.UNKNOWN)


# --- the wire numbers of these words (Trd_Common.*), for an OpenD of our own (opend_sim) ---------------

TRD_ENV_WIRE: dict[str, int] = {ENV_SIMULATE: 0, ENV_REAL: 1}
TRD_SIDE_WIRE: dict[str, int] = {"BUY": 1, "SELL": 2, "SELL_SHORT": 3, "BUY_BACK": 4}
ORDER_TYPE_WIRE: dict[str, int] = {"NORMAL": 1, "MARKET": 2}
ORDER_STATUS_WIRE: dict[str, int] = {
    NONE: -1, "UNSUBMITTED": 0, "WAITING_SUBMIT": 1, "SUBMITTING": 2, "SUBMIT_FAILED": 3, "TIMEOUT": 4,
    "SUBMITTED": 5, "FILLED_PART": 10, "FILLED_ALL": 11, "CANCELLING_PART": 12, "CANCELLING_ALL": 13,
    "CANCELLED_PART": 14, "CANCELLED_ALL": 15, "FAILED": 21, "DISABLED": 22, "DELETED": 23, "FILL_CANCELLED": 24,
}
MODIFY_OP_WIRE: dict[str, int] = {"NORMAL": 1, "CANCEL": 2}
TRD_CATEGORY_WIRE: dict[str, int] = {"SECURITY": 1, "FUTURE": 2}
