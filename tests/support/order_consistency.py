"""After an attack: td_exec's answer about an account's orders equals the fold of TD_EVT."""

from __future__ import annotations

import time
from typing import Any

from td_exec.rebuild import rebuild
from tradebus.bus import Bus
from tradebus.orders.bounds import VENUE_QTY_MAX
from tradebus.schemas import TRADE_REPLY_DECODER
from tradebus.schemas.orders import OrdersReply, QueryOrders
from tradebus.subjects import td_cmd


async def _served(bus: Bus, venue: str, account: str) -> dict[str, tuple[Any, int, int]]:
    reply = await bus.request(td_cmd(venue, account), QueryOrders(venue=venue, account=account),
                              TRADE_REPLY_DECODER, timeout=5)
    assert isinstance(reply, OrdersReply)
    return {o.client_order_id: (o.status, o.filled_qty, o.qty) for o in reply.orders}


async def orders_match_the_event_store(bus: Bus, venue: str, account: str, timeout: float = 15) -> int:
    """Compared once the edges have worked through their queues (the same answer before and after the
    fold); every quantity within the venues' range. Returns how many orders the account has."""
    deadline = time.monotonic() + timeout
    while True:
        before = await _served(bus, venue, account)
        ledger = await rebuild(bus, idle_timeout=3)
        after = await _served(bus, venue, account)
        if before == after or time.monotonic() > deadline:
            break
    folded = {coid: (o.status, o.filled_qty, o.qty) for coid, o in ledger.accounts.get((venue, account), {}).items()}
    assert after == folded
    assert all(0 < qty <= VENUE_QTY_MAX for _status, _filled, qty in after.values())
    return len(after)
