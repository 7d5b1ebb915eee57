"""What an order would cost or allow: 2111 Trd_GetMaxTrdQtys (``acctradinginfo_query``) and
2225 Trd_GetOrderFee (``order_fee_query``), computed from the sim account and the instrument's fees.

* **Maximum quantities**: whole board lots the account's available cash buys at ``price`` fees included
  (a market order is priced at the best ask), and the position not held by working sell orders. The
  simulated accounts are cash accounts: no margin buying, no short selling (both answer 0).
* **Order fees**: the fees the sim charged on the order's fills, split into the usual items in the
  proportions of the instrument's fee model (HK: commission, stamp duty, levies; elsewhere one item).
"""

from __future__ import annotations

import math
from typing import Any

from tradebus.sim import SimInstrument, SimMarket, SimOrder
from tradebus.sim.accounts import cash_needed

ORDER_TYPE_MARKET = 2
# HK fee_rate 0.138 % = commission 0.03 % + stamp duty 0.1 % + exchange/SFC levies 0.008 %
FEE_ITEMS: dict[str, tuple[tuple[str, float], ...]] = {
    "HK": (("Commission", 0.03 / 0.138), ("Stamp Duty", 0.1 / 0.138), ("Trading Levies", 0.008 / 0.138)),
}
_DEFAULT_FEE_ITEMS = (("Commission", 1.0),)


class InfoError(Exception):
    """A refusal to put in retMsg."""


def max_quantities(dst: Any, market: SimMarket, account: str, inst: SimInstrument, order_type: int,
                   price: float) -> None:
    """Fill a ``Trd_Common.MaxTrdQtys``."""
    quote = market.quote(inst.market, inst.symbol)
    if order_type == ORDER_TYPE_MARKET:
        price = quote.asks[0][0] if quote.asks else quote.last
    elif price <= 0:
        raise InfoError("The price must be greater than 0 for a limit order")
    available = market.funds(account).available
    per_lot = cash_needed(inst, inst.lot_size, price)
    lots = math.floor(available / per_lot + 1e-9) if per_lot > 0 else 0
    held = next((p for p in market.positions(account) if (p.market, p.symbol) == (inst.market, inst.symbol)), None)
    dst.maxCashBuy = float(max(0, lots) * inst.lot_size)
    dst.maxCashAndMarginBuy = dst.maxCashBuy  # a cash account: no margin
    dst.maxPositionSell = float(max(0, held.long_qty - held.long_frozen) if held else 0)
    dst.maxSellShort = 0.0
    dst.maxBuyBack = 0.0


def order_fee(dst: Any, market: SimMarket, account: str, order: SimOrder) -> None:
    """Fill a ``Trd_Common.OrderFee`` from the fees of the order's fills."""
    total = round(sum(t.fee for t in market.trades(account) if t.order_id == order.order_id), 2)
    dst.orderIDEx = order.order_id
    dst.feeAmount = total
    items = FEE_ITEMS.get(order.market, _DEFAULT_FEE_ITEMS)
    shares = [round(total * part, 2) for _, part in items]
    shares[-1] = round(total - sum(shares[:-1]), 2)  # the items add up to the total exactly
    for (title, _), value in zip(items, shares, strict=True):
        item = dst.feeList.add()
        item.title = title
        item.value = value
