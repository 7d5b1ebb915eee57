"""A webctp trading client for fault tests: one ``/td/`` socket, a steady insert-then-cancel flow over one or
more legs (an instrument on an account: a CTP contract, a Futu stock), and what became of every order it sent,
keyed as CTP keys an order: (SessionID, OrderRef) under FrontID 1.

It speaks ws_edge's real JSON protocol (docs/ws_edge.md): ``ReqUserLogin``, ``ReqOrderInsert`` (success has
no reply of its own: the ``RtnOrder`` pushes follow), ``ReqOrderAction`` by FrontID + SessionID + OrderRef,
``ReqQryOrder``. A frame reader keeps every ``RtnOrder`` status per order; an insert is *answered* by its first
``RtnOrder`` or by ``RspOrderInsert`` with an error, and its stream is *complete* once a cancel ends it (CTP
status ``5``). When the socket dies the flow stops and the orders sent but not answered are *in flight*.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from polling import until
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tradebus.schemas.orders import Offset, Side, SubmitOrder
from ws_edge.orders import coid_for

ANSWER_S = 15.0  # an insert or cancel silent this long on a live socket is unanswered
PACE_S = 0.1  # one order per client every 100 ms: a steady flow, not a load test
FRONT_ID = 1  # ws_edge's FrontID (services/ws_edge/edge.py)
CANCELLED = "5"  # CTP OrderStatus: cancelled (or rejected, with OrderSubmitStatus 4)
WORKING = frozenset({"3", "1"})  # CTP OrderStatus: accepted, nothing / part filled

Key = tuple[int, int]  # (SessionID, OrderRef)


@dataclass(frozen=True)
class Leg:
    """One instrument on one account: a resting limit buy of it, as webctp's InputOrder and as the td_exec
    command ws_edge makes of it."""

    venue: str
    account: str
    instrument_id: str  # webctp's: rb2601, HK.09988
    exchange: str
    symbol: str
    volume: int
    price: float

    @property
    def futures(self) -> bool:
        return self.instrument_id == self.symbol

    def input_order(self, order_ref: int) -> dict[str, Any]:
        return {
            "InstrumentID": self.instrument_id,
            "ExchangeID": self.exchange,
            "InvestorID": self.account,
            "Direction": "0",
            "CombOffsetFlag": "0",
            "CombHedgeFlag": "1",
            "OrderPriceType": "2",
            "LimitPrice": self.price,
            "VolumeTotalOriginal": self.volume,
            "TimeCondition": "3",
            "VolumeCondition": "1",
            "OrderRef": str(order_ref),
        }

    def action(self, key: Key) -> dict[str, Any]:
        """The cancel of the order (FrontID + SessionID + OrderRef)."""
        return {
            "InvestorID": self.account,
            "ExchangeID": self.exchange,
            "InstrumentID": self.instrument_id,
            "ActionFlag": "0",
            "FrontID": FRONT_ID,
            "SessionID": key[0],
            "OrderRef": str(key[1]),
        }

    def submit(self, client_order_id: str, user: str) -> SubmitOrder:
        """What ws_edge sends td_exec for ``input_order`` (a stock order carries no offset)."""
        return SubmitOrder(
            venue=self.venue,
            account=self.account,
            exchange=self.exchange,
            symbol=self.symbol,
            side=Side.BUY,
            qty=self.volume,
            price=self.price,
            offset=Offset.OPEN if self.futures else Offset.NONE,
            user=user,
            client_order_id=client_order_id,
        )


@dataclass
class WebctpTrader:
    name: str
    ws: ClientConnection
    session_id: int = 0
    next_ref: int = 0
    statuses: dict[Key, list[str]] = field(default_factory=dict)  # every RtnOrder status, in order
    leg_of: dict[Key, Leg] = field(default_factory=dict)  # what each order sent here was
    sent: dict[Key, float] = field(default_factory=dict)  # monotonic time of each ReqOrderInsert
    refused: dict[Key, int] = field(default_factory=dict)  # ErrorID of a refused insert
    cancel_refused: dict[Key, int] = field(default_factory=dict)
    unanswered: list[tuple[Key, str]] = field(default_factory=list)  # (order, the request that met silence)
    answered_at: list[float] = field(default_factory=list)  # monotonic time of each first RtnOrder
    listed: list[dict[str, Any]] = field(default_factory=list)  # ReqQryOrder's Orders
    listed_done: bool = False
    closed: bool = False
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def login(cls, name: str, port: int, user: str, password: str, timeout: float = 10) -> WebctpTrader:
        """A socket on ``port`` logged in as ``user`` (its SessionID kept); raises on refusal."""
        ws = await asyncio.wait_for(connect(f"ws://127.0.0.1:{port}/td/"), timeout)
        trader = cls(name, ws)
        await ws.send(
            json.dumps(
                {"MsgType": "ReqUserLogin", "RequestID": 1, "ReqUserLogin": {"UserID": user, "Password": password}}
            )
        )
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await ws.recv())
                if frame["MsgType"] == "RspUserLogin":
                    break
        if frame["RspInfo"]["ErrorID"] != 0:
            await ws.close()
            raise ConnectionError(f"{name}: login refused {frame['RspInfo']}")
        trader.session_id = int(frame["RspUserLogin"]["SessionID"])
        trader.reader = asyncio.create_task(trader._read())
        return trader

    def coid(self, key: Key) -> str:
        """td_exec's client order id of the order (docs/ws_edge.md, 'Futu ↔ CTP mapping')."""
        return coid_for(FRONT_ID, *key)

    # --- frames ------------------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self._note(json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            self.closed = True

    def _note(self, frame: dict[str, Any]) -> None:
        kind, info = frame["MsgType"], frame.get("RspInfo") or {}
        if kind == "RtnOrder":
            order = frame["Order"]
            key = (int(order["SessionID"]), int(order["OrderRef"]))
            if key not in self.statuses and key in self.sent:
                self.answered_at.append(time.monotonic())
            self.statuses.setdefault(key, []).append(order["OrderStatus"])
        elif kind == "RspOrderInsert" and info.get("ErrorID"):
            self.refused[(self.session_id, int(frame["InputOrder"]["OrderRef"]))] = info["ErrorID"]
        elif kind == "RspOrderAction" and info.get("ErrorID"):
            action = frame["InputOrderAction"]
            self.cancel_refused[(int(action["SessionID"]), int(action["OrderRef"]))] = info["ErrorID"]
        elif kind == "RspQryOrder":
            if frame.get("Order"):
                self.listed.append(frame["Order"])
            self.listed_done = bool(frame.get("IsLast"))

    # --- requests ----------------------------------------------------------------------------------

    async def insert(self, leg: Leg) -> Key:
        self.next_ref += 1
        key = (self.session_id, self.next_ref)
        self.sent[key], self.leg_of[key] = time.monotonic(), leg
        frame = {"MsgType": "ReqOrderInsert", "RequestID": 1000 + self.next_ref, "InputOrder": leg.input_order(key[1])}
        await self.ws.send(json.dumps(frame))
        return key

    async def cancel(self, key: Key, leg: Leg) -> None:
        await self.ws.send(
            json.dumps({"MsgType": "ReqOrderAction", "RequestID": 1, "InputOrderAction": leg.action(key)})
        )

    async def list_orders(self, account: str, timeout: float = 15) -> list[dict[str, Any]]:
        """ReqQryOrder for ``account``: the account book this edge folded."""
        self.listed, self.listed_done = [], False
        query = {"BrokerID": "9999", "InvestorID": account}
        await self.ws.send(json.dumps({"MsgType": "ReqQryOrder", "RequestID": 2, "QryOrder": query}))
        await until(lambda: self.listed_done, timeout, f"{self.name}: ReqQryOrder answered")
        return self.listed

    # --- what became of an order -------------------------------------------------------------------

    def answered(self, key: Key) -> bool:
        return key in self.statuses or key in self.refused

    def working(self, key: Key) -> bool:
        return bool(WORKING & set(self.statuses.get(key, [])))

    def complete(self, key: Key) -> bool:
        """Accepted, then ended by the cancel: the order's RtnOrder stream has nothing left to say."""
        seen = self.statuses.get(key, [])
        return bool(seen) and seen[-1] == CANCELLED

    def accepted(self) -> list[Key]:
        return [key for key in self.sent if key in self.statuses]

    async def _until(self, done: Callable[[], bool], key: Key, request: str) -> bool:
        """False when the socket died first (the flow stops); a live socket silent past ANSWER_S is unanswered."""
        try:
            await until(lambda: done() or self.closed, ANSWER_S, f"{self.name}: {request} {key}")
        except AssertionError:
            self.unanswered.append((key, request))
            return True
        return done() or not self.closed

    async def one_order(self, leg: Leg) -> bool:
        """Insert, wait for the first RtnOrder, cancel once working, wait for the cancel; False once the
        socket died."""
        key = await self.insert(leg)
        if not await self._until(
            lambda: self.working(key) or key in self.refused or self.complete(key), key, "ReqOrderInsert"
        ):
            return False
        if self.working(key):
            await self.cancel(key, leg)
            return await self._until(lambda: self.complete(key) or key in self.cancel_refused, key, "ReqOrderAction")
        return True

    async def run(self, legs: list[Leg], stop: asyncio.Event) -> None:
        """One order after another, taking the legs in turn, until ``stop`` or until the socket dies."""
        while not stop.is_set() and not self.closed:
            try:
                if not await self.one_order(legs[self.next_ref % len(legs)]):
                    return
            except ConnectionClosed:
                return
            await asyncio.sleep(PACE_S)  # the flow's pace (a rate), not a wait for anything

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self.reader is not None:
            await self.reader
