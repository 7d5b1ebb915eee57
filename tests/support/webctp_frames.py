"""webctp frames the end-to-end tests share (`tradebus up` and docker compose): the order and the depth wait."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

BOTH_VENUES = ("rb2601", "HK.00700")  # a CTP contract and a Futu stock


def rb2601_buy(price: float, volume: int = 1) -> dict[str, Any]:
    """A CTP limit buy of rb2601 for the simulated account 000001, as webctp's ReqOrderInsert body."""
    return {"BrokerID": "9999", "InvestorID": "000001", "ExchangeID": "SHFE", "InstrumentID": "rb2601",
            "OrderPriceType": "2", "Direction": "0", "CombOffsetFlag": "0", "CombHedgeFlag": "1",
            "LimitPrice": price, "VolumeTotalOriginal": volume, "TimeCondition": "3", "VolumeCondition": "1",
            "ContingentCondition": "1", "ForceCloseReason": "0", "IsAutoSuspend": 0, "IsSwapOrder": 0}


def quoted(price: object) -> bool:
    """A real price: webctp shows a side with no quote as 0 (Futu before its first book push) or as DBL_MAX."""
    return isinstance(price, (int, float)) and 0 < price < 1e300


def depth_of(instruments: tuple[str, ...]) -> tuple[dict[str, dict], Callable[[dict], bool]]:
    """(depth by instrument, a predicate that records each RtnDepthMarketData quoted on both sides and is true once
    every instrument has one). Tests price their orders off BidPrice1/AskPrice1, so a tick without a book (a Futu
    quote push that came before the order-book push) must not count."""
    depth: dict[str, dict] = {}

    def all_seen(frame: dict) -> bool:
        if frame["MsgType"] == "RtnDepthMarketData":
            data = frame["DepthMarketData"]
            if quoted(data.get("BidPrice1")) and quoted(data.get("AskPrice1")):
                depth[data["InstrumentID"]] = data
        return set(instruments) <= set(depth)

    return depth, all_seen
