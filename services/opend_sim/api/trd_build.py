"""Fill futu's trade records (Order, OrderFill, Position, Funds, TrdAcc) from sim values."""

from __future__ import annotations

import hashlib
from typing import Any

from opend_sim.api import timefmt
from opend_sim.api.accounts import (
    ACC_STATUS_ACTIVE,
    ACC_TYPE_CASH,
    SECURITY_FIRM_FUTUSECURITIES,
    SIM_ACC_TYPE_STOCK,
    FutuAccount,
)
from opend_sim.api.mapping import (
    CURRENCY,
    ORDER_TYPE,
    SEC_MARKET,
    TRD_ENV_REAL,
    TRD_MARKET,
    TRD_SIDE,
    order_status,
)
from tradebus.sim import Funds, Position, SimInstrument, SimOrder, SimOrderStatus, SimTrade

TIME_IN_FORCE_DAY = 0
POSITION_SIDE_LONG = 0
FILL_STATUS_OK = 0


def numeric_id(text: str) -> int:
    """The uint64 twin of a string id (futu shows the string; the number must just be stable)."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if digits and len(digits) <= 18:
        return int(digits)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big")


def fill_header(dst: Any, acc: FutuAccount) -> None:
    dst.trdEnv = acc.env
    dst.accID = acc.acc_id
    dst.trdMarket = TRD_MARKET[acc.market]


def fill_acc(dst: Any, acc: FutuAccount) -> None:
    dst.trdEnv = acc.env
    dst.accID = acc.acc_id
    dst.trdMarketAuthList.append(TRD_MARKET[acc.market])
    dst.accType = ACC_TYPE_CASH
    dst.accStatus = ACC_STATUS_ACTIVE
    if acc.env == TRD_ENV_REAL:
        dst.cardNum = acc.card_num
        dst.uniCardNum = acc.card_num
        dst.securityFirm = SECURITY_FIRM_FUTUSECURITIES
    else:
        dst.simAccType = SIM_ACC_TYPE_STOCK


def fill_order(dst: Any, o: SimOrder, inst: SimInstrument | None, acc: FutuAccount) -> None:
    dst.trdSide = TRD_SIDE[o.side]
    dst.orderType = ORDER_TYPE[o.kind]
    dst.orderStatus = order_status(o.status, o.filled_qty)
    dst.orderID = numeric_id(o.order_id)
    dst.orderIDEx = o.order_id
    dst.code = o.symbol
    dst.name = inst.name if inst is not None else o.symbol
    dst.qty = float(o.qty)
    dst.price = o.price
    dst.createTime = timefmt.millis(o.market, o.created_ns)
    dst.updateTime = timefmt.millis(o.market, o.updated_ns)
    dst.createTimestamp = timefmt.epoch(o.created_ns)
    dst.updateTimestamp = timefmt.epoch(o.updated_ns)
    dst.fillQty = float(o.filled_qty)
    dst.fillAvgPrice = o.avg_fill_price
    dst.lastErrMsg = o.reject_text if o.status is SimOrderStatus.REJECTED else ""
    dst.secMarket = SEC_MARKET[o.market]
    dst.trdMarket = TRD_MARKET[acc.market]
    dst.remark = o.remark
    dst.timeInForce = TIME_IN_FORCE_DAY
    dst.fillOutsideRTH = False
    dst.currency = CURRENCY[acc.currency]


def fill_deal(dst: Any, t: SimTrade, inst: SimInstrument | None, acc: FutuAccount) -> None:
    dst.trdSide = TRD_SIDE[t.side]
    dst.fillID = numeric_id(t.trade_id)
    dst.fillIDEx = t.trade_id
    dst.orderID = numeric_id(t.order_id)
    dst.orderIDEx = t.order_id
    dst.code = t.symbol
    dst.name = inst.name if inst is not None else t.symbol
    dst.qty = float(t.qty)
    dst.price = t.price
    dst.createTime = timefmt.millis(t.market, t.ts_ns)
    dst.createTimestamp = timefmt.epoch(t.ts_ns)
    dst.updateTimestamp = timefmt.epoch(t.ts_ns)
    dst.secMarket = SEC_MARKET[t.market]
    dst.status = FILL_STATUS_OK
    dst.trdMarket = TRD_MARKET[acc.market]


def fill_position(dst: Any, p: Position, inst: SimInstrument | None, last: float, acc: FutuAccount) -> None:
    qty = p.long_qty
    cost = p.long_avg_price
    dst.positionID = numeric_id(f"{acc.acc_id}:{p.market}:{p.symbol}")
    dst.positionSide = POSITION_SIDE_LONG
    dst.code = p.symbol
    dst.name = inst.name if inst is not None else p.symbol
    dst.qty = float(qty)
    dst.canSellQty = float(qty - p.long_frozen)
    dst.price = last
    dst.costPrice = cost
    dst.averageCostPrice = cost
    dst.dilutedCostPrice = cost
    dst.val = qty * last
    dst.plVal = p.unrealised_pnl
    dst.unrealizedPL = p.unrealised_pnl
    dst.plRatio = p.unrealised_pnl / (cost * qty) * 100 if cost and qty else 0.0
    dst.secMarket = SEC_MARKET[p.market]
    dst.currency = CURRENCY[acc.currency]
    dst.trdMarket = TRD_MARKET[acc.market]


def fill_funds(dst: Any, f: Funds, acc: FutuAccount) -> None:
    dst.power = f.available  # a cash account's buying power is its free cash
    dst.totalAssets = f.equity
    dst.cash = f.cash
    dst.marketVal = f.market_value
    dst.frozenCash = f.frozen_cash
    dst.debtCash = 0.0
    dst.avlWithdrawalCash = f.available
    dst.maxWithdrawal = f.available
    dst.currency = CURRENCY[acc.currency]
    dst.availableFunds = f.available
    dst.unrealizedPL = f.unrealised_pnl
    dst.realizedPL = f.realised_pnl
    dst.netCashPower = f.available
    dst.longMv = f.market_value
    dst.shortMv = 0.0
    dst.securitiesAssets = f.equity
