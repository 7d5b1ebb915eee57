"""CTP's order ids: the 12-character text width, and the (FrontID, SessionID, OrderRef) key.

OrderRef and OrderLocalID hold at most 12 characters (OrderSysID and TradeID 20), and fronts fill all
four right-aligned and space-padded to 12 (``"        1187"``); clients compare them after stripping. An order is
named by FrontID + SessionID + OrderRef from the moment it is sent (the key a client cancels by), and
by ExchangeID + OrderSysID once the exchange has it (docs/ctp.md, "Ids").
"""

from __future__ import annotations

ID_WIDTH = 12


def padded(value: str | int) -> str:
    """An id as a front sends it: right-aligned in :data:`ID_WIDTH` characters."""
    return str(value).strip().rjust(ID_WIDTH)


def ref_number(order_ref: str | int) -> int | None:
    """The number in an OrderRef (padded or not); None when it is not a plain number."""
    text = str(order_ref).strip()
    return int(text) if text.isdigit() else None


def order_key(front_id: int, session_id: int, order_ref: int) -> str:
    """``"<FrontID>:<SessionID>:<OrderRef>"``: CTP's key of an order, stable for its whole life."""
    return f"{front_id}:{session_id}:{order_ref}"


def parse_order_key(key: str | None) -> tuple[int, int, int] | None:
    """:func:`order_key` back into its three numbers, or None."""
    if not key:
        return None
    parts = key.split(":")
    if len(parts) != 3 or not all(p.strip().lstrip("-").isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])
