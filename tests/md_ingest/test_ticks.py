"""Ticks from both simulators arrive on md.tick.> normalised, with correct fields."""

from __future__ import annotations

import gc
import time
from pathlib import Path

from mdingest_helpers import Harness, SimProcess, make_config

from tradebus.bus import Bus, last_message
from tradebus.schemas import MARKET_DATA_DECODER
from tradebus.schemas.market import Tick
from tradebus.subjects import md_tick


async def test_ctp_ticks_normalised(nats_server, bus: Bus, ctp_front: tuple[SimProcess, int, int],
                                    harness_factory, tmp_path: Path) -> None:
    _, td, md = ctp_front
    config = make_config(nats_server.url, tmp_path / "var", ctp_ports=(td, md),
                         subscriptions=["ctp.SHFE.rb2601", "ctp.DCE.m2601"])
    h: Harness = await harness_factory(config)
    assert gc.get_freeze_count() > 0  # start() froze what lives as long as the service (no full GC pass over it)
    await h.wait_for("rb2601 and m2601 ticks",
                     lambda: len(h.ticks_of("ctp", "rb2601")) >= 3 and len(h.ticks_of("ctp", "m2601")) >= 3)
    rb = h.ticks_of("ctp", "rb2601")[-1]
    assert rb.exchange == "SHFE" and rb.venue == "ctp"
    assert len(rb.bids) == 5 and len(rb.asks) == 5  # SHFE fronts carry five levels
    assert rb.bids[0].price < rb.asks[0].price
    assert rb.upper_limit is not None and rb.lower_limit is not None and rb.lower_limit < rb.upper_limit
    assert rb.prev_close is not None and rb.pre_close is not None  # pre-settlement and previous close, both kept
    assert abs(rb.ts_event - time.time_ns()) < 5e9  # Beijing UpdateTime turned into UTC ns
    assert rb.ts_event <= rb.ts_init + 1_000_000_000
    assert rb.trading_day is not None and len(rb.trading_day) == 8
    m = h.ticks_of("ctp", "m2601")[-1]
    assert m.exchange == "DCE"  # ExchangeID is empty in depth pushes: mapped from the instrument list
    assert len(m.bids) == 1 and len(m.asks) == 1  # other exchanges: level 1 only, DBL_MAX levels left out
    if m.volume > 0:
        assert m.average_price is not None and m.low <= m.average_price <= m.high  # per unit, not × multiplier
    seqs = [t.seq for t in h.ticks if t.venue == "ctp"]
    assert seqs == list(range(1, len(seqs) + 1))
    # The MD stream keeps the last tick of each instrument for new subscribers.
    last = await last_message(bus.js, "MD", md_tick("ctp", "SHFE", "rb2601"), MARKET_DATA_DECODER)
    assert isinstance(last, Tick) and last.symbol == "rb2601"


async def test_futu_ticks_normalised(nats_server, bus: Bus, opend: tuple[SimProcess, int],
                                     harness_factory, tmp_path: Path) -> None:
    _, port = opend
    config = make_config(nats_server.url, tmp_path / "var", futu_port=port,
                         subscriptions=["futu.HK.00700", "futu.US.AAPL"])
    h: Harness = await harness_factory(config)
    await h.wait_for("00700 and AAPL ticks",
                     lambda: len(h.ticks_of("futu", "00700")) >= 3 and len(h.ticks_of("futu", "AAPL")) >= 3)
    t = h.ticks_of("futu", "00700")[-1]
    assert (t.venue, t.exchange, t.symbol) == ("futu", "HK", "00700")
    assert t.last is not None and t.prev_close is not None and t.volume >= 0
    assert t.bids and t.asks and len(t.bids) <= 5 and t.bids[0].price < t.asks[0].price
    assert abs(t.ts_event - time.time_ns()) < 5e9  # futu's epoch timestamps, UTC ns
    assert t.trading_day is None
    seqs = [x.seq for x in h.ticks if x.venue == "futu"]
    assert seqs == list(range(1, len(seqs) + 1))
    assert any(x.last_qty for x in h.ticks_of("futu"))  # ticker pushes give the last trade's size
