"""CTP error ids and texts, and how simulated-market refusals map onto them.

Ids and texts are CTP's (the ``CTP:`` prefixed texts its fronts send, in GB18030 on the wire);
docs/simulators.md ('Rejects' under ctp_sim) lists the ones seen in the field. Refusals that a real exchange (not the
CTP front) makes — price off the tick, outside the daily limits, a market order with nothing to
trade against — do not come back as an error id: the order is reported as ``RtnOrder`` with
OrderStatus Canceled and OrderSubmitStatus InsertRejected, and a StatusMsg in the exchange's words
(those exchange texts are ctp_sim's, modelled on the real ``已撤单报单被拒绝<exchange>:<reason>``).
"""

from __future__ import annotations

from tradebus.sim import Offset, RejectReason

SUCCESS = (0, "CTP:正确")
MD_SUCCESS = (0, "CTP:No Error")
INVALID_LOGIN = (3, "CTP:不合法的登录")
DUPLICATE_LOGIN = (5, "CTP:重复的登录")
NOT_LOGGED_IN = (6, "CTP:还没有登录")
NO_PERMISSION = (9, "CTP:无此权限")
INVESTOR_NOT_FOUND = (13, "CTP:找不到投资者")
BAD_FIELD = (15, "CTP:报单字段有误")
INSTRUMENT_NOT_FOUND = (16, "CTP:找不到合约")
DUPLICATE_ORDER_REF = (22, "CTP:报单错误：不允许重复报单")
ORDER_NOT_FOUND = (25, "CTP:撤单找不到相应报单")
ORDER_NOT_ACTIVE = (26, "CTP:报单已全成交或已撤销，不能再撤")
OVER_CLOSE_POSITION = (30, "CTP:平仓量超过持仓量")
INSUFFICIENT_MONEY = (31, "CTP:资金不足")
SETTLEMENT_NOT_CONFIRMED = (42, "CTP:结算结果未确认")
OVER_CLOSE_TODAY = (50, "CTP:平今仓位不足")
OVER_CLOSE_YESTERDAY = (51, "CTP:平昨仓位不足")
AUTH_FAILED = (63, "CTP:客户端认证失败")
NO_SUCH_FUNCTION = (77, "CTP:无此功能")

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
