"""create_md_api / create_trader_api pick the double for sim:// and refuse unknown schemes."""

from __future__ import annotations

from pathlib import Path

import pytest
from ctpsim_helpers import md_mod, td_mod

from tradebus.ctp.api import create_md_api, create_trader_api
from tradebus.ctp.sim_api import SimMdApi, SimTraderApi


def test_sim_scheme_gives_the_double(tmp_path: Path) -> None:
    assert isinstance(create_trader_api("sim://127.0.0.1:40001", str(tmp_path)), SimTraderApi)
    assert isinstance(create_md_api("sim://127.0.0.1:40011", str(tmp_path)), SimMdApi)


def test_tcp_scheme_gives_the_native_api(tmp_path: Path) -> None:
    td = create_trader_api("tcp://127.0.0.1:1", str(tmp_path / "td"))
    md = create_md_api("tcp://127.0.0.1:1", str(tmp_path / "md"))
    try:
        assert isinstance(td, td_mod.CThostFtdcTraderApi)
        assert isinstance(md, md_mod.CThostFtdcMdApi)
    finally:
        td.Release()
        md.Release()


@pytest.mark.parametrize("front", ["http://127.0.0.1:1", "127.0.0.1:40001", "sim://127.0.0.1", "udp://h:1", ""])
def test_bad_front_is_refused(front: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sim://host:port"):
        create_trader_api(front, str(tmp_path))
    with pytest.raises(ValueError, match="sim://host:port"):
        create_md_api(front, str(tmp_path))


def test_double_refuses_a_non_sim_front(tmp_path: Path) -> None:
    api = SimTraderApi(str(tmp_path))
    with pytest.raises(ValueError):
        api.RegisterFront("tcp://127.0.0.1:40001")


def test_requests_before_connect_return_network_error(tmp_path: Path) -> None:
    api = SimTraderApi(str(tmp_path))
    assert api.GetTradingDay() == "19800100"
    assert api.ReqQryInvestor(td_mod.CThostFtdcQryInvestorField(), 1) == -1
    md = SimMdApi(str(tmp_path))
    assert md.SubscribeMarketData([b"rb2601"], 1) == -1
    with pytest.raises(TypeError, match="list must contain strings"):
        md.SubscribeMarketData(["rb2601"], 1)
