"""The venues and the bus as a test reads them, without going through tradebus' services.

* the bus with the operator credentials ``tradebus up`` wrote (:func:`operator_bus`);
* a CTP session of our own on ctp_sim (:class:`CtpTruth`, the real openctp-ctp SPI through the ``sim://``
  API double), as a broker's own terminal would look at the account;
* a futu-api trade context on opend_sim (:class:`FutuTruth`): OpenD's own answer for an account.

Shared by the fmz_edge chain tests and the cluster fault tests.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from up_harness import UpRun

from tradebus.bus import Bus, connect
from tradebus.cli.bus_access import OPERATOR_FILE
from tradebus.config import NatsConfig, Secret
from tradebus.ctp import import_ctp_modules
from tradebus.ctp.structs import struct_to_dict

_md_mod, td_mod = import_ctp_modules()
WAIT_S = 10.0


async def operator_bus(run: UpRun) -> Bus:
    saved = json.loads((run.data_dir / OPERATOR_FILE).read_text())
    cfg = NatsConfig(url=run.nats_url, user=saved["user"], password=Secret(saved["password"]), connect_timeout_s=3,
                     reconnect_wait_s=0.2)
    return await connect(cfg, "fmz-chain-test")


# --- ctp_sim, asked directly ----------------------------------------------------------------------------------


class _Spi(td_mod.CThostFtdcTraderSpi):  # type: ignore[misc,name-defined]
    """Queues every callback's (name, copied args); the double calls it on its own thread."""

    def __init__(self) -> None:
        super().__init__()
        self.events: queue.Queue[tuple[str, tuple[Any, ...]]] = queue.Queue()

    def _put(self, name: str, *args: Any) -> None:
        self.events.put((name, tuple(struct_to_dict(a) if hasattr(a, "this") else a for a in args)))

    def OnFrontConnected(self) -> None:  # the SPI's names, called by the double
        self._put("OnFrontConnected")

    def OnRspAuthenticate(self, *args: Any) -> None:
        self._put("OnRspAuthenticate", *args)

    def OnRspUserLogin(self, *args: Any) -> None:
        self._put("OnRspUserLogin", *args)

    def OnRspQryTradingAccount(self, *args: Any) -> None:
        self._put("OnRspQryTradingAccount", *args)

    def OnRspQryInvestorPosition(self, *args: Any) -> None:
        self._put("OnRspQryInvestorPosition", *args)

    def OnRspQryOrder(self, *args: Any) -> None:
        self._put("OnRspQryOrder", *args)


class CtpTruth:
    """A second CTP session of the demo investor on ctp_sim, for queries only (as a broker's own
    terminal would look at the account)."""

    BROKER, INVESTOR, PASSWORD = "9999", "000001", "123456"
    APP_ID, AUTH_CODE = "simnow_client_test", "0000000000000000"

    def __init__(self, td_port: int, flow_dir: Path) -> None:
        from tradebus.ctp.api import create_trader_api

        flow_dir.mkdir(parents=True, exist_ok=True)
        self.api = create_trader_api(f"sim://127.0.0.1:{td_port}", str(flow_dir) + "/")
        self.spi = _Spi()
        self.request_id = 0
        self.api.RegisterSpi(self.spi)
        self.api.SubscribePrivateTopic(td_mod.THOST_TERT_QUICK)
        self.api.SubscribePublicTopic(td_mod.THOST_TERT_QUICK)
        self.api.RegisterFront(f"sim://127.0.0.1:{td_port}")
        self.api.Init()
        self._wait("OnFrontConnected")
        auth = td_mod.CThostFtdcReqAuthenticateField()
        auth.BrokerID, auth.UserID, auth.AppID, auth.AuthCode = self.BROKER, self.INVESTOR, self.APP_ID, self.AUTH_CODE
        assert self.api.ReqAuthenticate(auth, self._rid()) == 0
        assert self._wait("OnRspAuthenticate")[1]["ErrorID"] == 0
        login = td_mod.CThostFtdcReqUserLoginField()
        login.BrokerID, login.UserID, login.Password = self.BROKER, self.INVESTOR, self.PASSWORD
        assert self.api.ReqUserLogin(login, self._rid()) == 0
        assert self._wait("OnRspUserLogin")[1]["ErrorID"] == 0

    def _rid(self) -> int:
        self.request_id += 1
        return self.request_id

    def _wait(self, name: str) -> tuple[Any, ...]:
        deadline = time.monotonic() + WAIT_S
        while (remaining := deadline - time.monotonic()) > 0:
            with contextlib.suppress(queue.Empty):
                got, args = self.spi.events.get(timeout=remaining)
                if got == name:
                    return args
        raise AssertionError(f"ctp_sim sent no {name} within {WAIT_S}s")

    def _query(self, name: str, request: Callable[[int], int]) -> list[dict[str, Any]]:
        """One query's rows; CTP's flow control (one query a second) answers -3: retry to a deadline."""
        deadline = time.monotonic() + WAIT_S
        pause = threading.Event()
        while (rc := request(self._rid())) in (-2, -3):
            assert time.monotonic() < deadline, f"{name} still refused with {rc}"
            pause.wait(0.1)  # the front's flow control, not a race: retry until it lets the query through
        assert rc == 0, rc
        rows: list[dict[str, Any]] = []
        while True:
            args = self._wait(name)
            if args[0]:
                rows.append(args[0])
            if args[3]:  # bIsLast
                return rows

    def trading_account(self) -> dict[str, Any]:
        q = td_mod.CThostFtdcQryTradingAccountField()
        q.BrokerID, q.InvestorID = self.BROKER, self.INVESTOR
        (row,) = self._query("OnRspQryTradingAccount", lambda rid: self.api.ReqQryTradingAccount(q, rid))
        return row

    def positions(self, instrument: str) -> list[dict[str, Any]]:
        q = td_mod.CThostFtdcQryInvestorPositionField()
        q.BrokerID, q.InvestorID, q.InstrumentID = self.BROKER, self.INVESTOR, instrument
        rows = self._query("OnRspQryInvestorPosition", lambda rid: self.api.ReqQryInvestorPosition(q, rid))
        return [r for r in rows if r["InstrumentID"] == instrument]

    def orders(self) -> list[dict[str, Any]]:
        q = td_mod.CThostFtdcQryOrderField()
        q.BrokerID, q.InvestorID = self.BROKER, self.INVESTOR
        return self._query("OnRspQryOrder", lambda rid: self.api.ReqQryOrder(q, rid))

    def close(self) -> None:
        self.api.Release()


def ctp_venue_order_ids(run: UpRun) -> list[str]:
    """ctp_sim's own order list as td_exec's venue order ids: FrontID:SessionID:OrderRef (docs/td_exec_ctp.md)."""
    truth = CtpTruth(run.ports["ctp_td"], run.data_dir / "truth-flow")
    try:
        return [f"{row['FrontID']}:{row['SessionID']}:{int(row['OrderRef'])}" for row in truth.orders()]
    finally:
        truth.close()


# --- opend_sim, asked directly with futu-api ----------------------------------------------------------------


@dataclass
class FutuTruth:
    """A futu-api trade context on opend_sim's API port: OpenD's own answer for an account."""

    port: int
    market: str  # "HK" | "US"

    @contextlib.contextmanager
    def _context(self) -> Iterator[Any]:
        import futu

        ctx = futu.OpenSecTradeContext(filter_trdmarket=getattr(futu.TrdMarket, self.market), host="127.0.0.1",
                                       port=self.port, security_firm=futu.SecurityFirm.NONE)
        try:
            yield ctx
        finally:
            ctx.close()

    def funds(self, acc_id: int, env: str) -> dict[str, Any]:
        with self._context() as ctx:
            ret, table = ctx.accinfo_query(trd_env=env, acc_id=acc_id)
        assert ret == 0, table
        return table.to_dict("records")[0]

    def positions(self, acc_id: int, env: str) -> list[dict[str, Any]]:
        with self._context() as ctx:
            ret, table = ctx.position_list_query(trd_env=env, acc_id=acc_id)
        assert ret == 0, table
        return table.to_dict("records")

    def orders(self, acc_id: int, env: str) -> list[dict[str, Any]]:
        with self._context() as ctx:
            ret, table = ctx.order_list_query(trd_env=env, acc_id=acc_id)
        assert ret == 0, table
        return table.to_dict("records")


def futu_venue_order_ids(run: UpRun, acc_id: int) -> list[str]:
    """opend_sim's own order list of a real Hong Kong account: td_exec's venue order ids (OpenD's order ids)."""
    return [str(row["order_id"]) for row in FutuTruth(run.ports["opend"], "HK").orders(acc_id, "REAL")]
