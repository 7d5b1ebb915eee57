"""CTP error ids and texts, and how simulated-market refusals map onto them.

Ids and texts are CTP's (the ``CTP:`` prefixed texts its fronts send, in GB18030 on the wire);
docs/simulators.md ('Rejects' under ctp_sim) lists the ones seen in the field. Refusals that a real exchange (not the
CTP front) makes — price off the tick, outside the daily limits, a market order with nothing to
trade against — do not come back as an error id: the order is reported as ``RtnOrder`` with
OrderStatus Canceled and OrderSubmitStatus InsertRejected, and a StatusMsg in the exchange's words
(those exchange texts are ctp_sim's, modelled on the real ``已撤单报单被拒绝<exchange>:<reason>``).
"""

from __future__ import annotations

from tradebus.ctp.errors import ERROR_TEXT, MD_SUCCESS_TEXT, ErrorId
from tradebus.sim import Offset, RejectReason


def _error(code: int) -> tuple[int, str]:
    return code, ERROR_TEXT[code]


# (ErrorID, ErrorMsg) pairs as the front sends them; ids and texts are the kit's (tradebus.ctp.errors).
SUCCESS = _error(ErrorId.SUCCESS)
MD_SUCCESS = (ErrorId.SUCCESS, MD_SUCCESS_TEXT)
INVALID_LOGIN = _error(ErrorId.INVALID_LOGIN)
DUPLICATE_LOGIN = _error(ErrorId.DUPLICATE_LOGIN)
NOT_LOGGED_IN = _error(ErrorId.NOT_LOGGED_IN)
NO_PERMISSION = _error(ErrorId.NO_PERMISSION)
INVESTOR_NOT_FOUND = _error(ErrorId.INVESTOR_NOT_FOUND)
BAD_FIELD = _error(ErrorId.BAD_ORDER_FIELD)
INSTRUMENT_NOT_FOUND = _error(ErrorId.INSTRUMENT_NOT_FOUND)
DUPLICATE_ORDER_REF = _error(ErrorId.DUPLICATE_ORDER)
ORDER_NOT_FOUND = _error(ErrorId.ORDER_NOT_FOUND)
ORDER_NOT_ACTIVE = _error(ErrorId.ORDER_NOT_ACTIVE)
OVER_CLOSE_POSITION = _error(ErrorId.OVER_CLOSE_POSITION)
INSUFFICIENT_MONEY = _error(ErrorId.INSUFFICIENT_MONEY)
SETTLEMENT_NOT_CONFIRMED = _error(ErrorId.SETTLEMENT_NOT_CONFIRMED)
OVER_CLOSE_TODAY = _error(ErrorId.OVER_CLOSE_TODAY)
OVER_CLOSE_YESTERDAY = _error(ErrorId.OVER_CLOSE_YESTERDAY)
AUTH_FAILED = _error(ErrorId.AUTH_FAILED)
NO_SUCH_FUNCTION = _error(ErrorId.NO_SUCH_FUNCTION)

# Refusals the CTP front itself makes (→ OnRspOrderInsert + OnErrRtnOrderInsert).
FRONT_REJECTS: dict[RejectReason, tuple[int, str]] = {
    RejectReason.UNKNOWN_ACCOUNT: INVESTOR_NOT_FOUND,
    RejectReason.UNKNOWN_INSTRUMENT: INSTRUMENT_NOT_FOUND,
    RejectReason.BAD_QUANTITY: BAD_FIELD,
    RejectReason.BAD_LOT_SIZE: BAD_FIELD,
    RejectReason.BAD_OFFSET: BAD_FIELD,
    RejectReason.INSUFFICIENT_CASH: INSUFFICIENT_MONEY,
    RejectReason.INSUFFICIENT_MARGIN: INSUFFICIENT_MONEY,
}
POSITION_REJECTS: dict[Offset, tuple[int, str]] = {
    Offset.CLOSE: OVER_CLOSE_POSITION,
    Offset.CLOSE_TODAY: OVER_CLOSE_TODAY,
    Offset.CLOSE_YESTERDAY: OVER_CLOSE_YESTERDAY,
}
# Refusals an exchange makes (→ RtnOrder Canceled / InsertRejected with this StatusMsg tail).
EXCHANGE_REJECTS: dict[RejectReason, str] = {
    RejectReason.PRICE_OFF_TICK: "报单价格不是最小变动价位的整数倍",
    RejectReason.PRICE_OUT_OF_LIMITS: "报单价格超出涨跌停板",
    RejectReason.NO_LIQUIDITY: "市价单没有对手盘",
}
CANCEL_REJECTS: dict[RejectReason, tuple[int, str]] = {
    RejectReason.UNKNOWN_ORDER: ORDER_NOT_FOUND,
    RejectReason.ORDER_NOT_ACTIVE: ORDER_NOT_ACTIVE,
}


def rsp_info(error: tuple[int, str]) -> dict[str, object]:
    return {"ErrorID": error[0], "ErrorMsg": error[1]}


def front_reject(reason: RejectReason, offset: Offset) -> tuple[int, str]:
    if reason is RejectReason.INSUFFICIENT_POSITION:
        return POSITION_REJECTS.get(offset, OVER_CLOSE_POSITION)
    return FRONT_REJECTS.get(reason, BAD_FIELD)
