"""Two md_ingest processes on one CTP front: one holds the venue, the other stands by.

Real nats-server, real ctp_sim, real ``python -m md_ingest`` processes (stopped by pid). The MD stream is
read back at the end: every stored tick is checked for a second copy, and each feed's ``seq`` must grow
strictly across the whole stream, which a late tick from a deposed holder (its own, older counter) breaks.
A live SDK subscriber (core, not the stream) is checked the same way: it never gets a tick of an older
holding after one of a newer holding, nor the same tick content twice (tradebus.md_holding).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from mdingest_helpers import WAIT, SimProcess, free_port
from polling import until, until_async

from md_ingest.publisher import tick_id
from tradebus.bus import Bus
from tradebus.bus.flush import flush_in_order
from tradebus.bus.replay import last_message, read_stream
from tradebus.bus.topology import ensure_topology
from tradebus.client import Client
from tradebus.config import StreamsConfig
from tradebus.md_holding import HOLDING_HEADER
from tradebus.schemas import MARKET_CONTROL_DECODER, MARKET_DATA_DECODER
from tradebus.schemas.market import FeedFence, SubscribeRequest, SubscriptionReply, Tick
from tradebus.subjects import MD_CTL_SUBSCRIBE, md_fence

ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 1.0
STATIC = ("SHFE", "rb2601")  # from [md] subscriptions: every instance holds it
ASKED = ("DCE", "m2601")  # asked for on md.ctl while instance 1 held the venue: the standby must remember it


class MdProcess:
    def __init__(self, instance: str, config: Path, log_path: Path) -> None:
        self.instance = instance
        self.config = config
        self.log_path = log_path
        self.health = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MdProcess:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TRADEBUS_")},
            "PYTHONPATH": os.pathsep.join([str(ROOT / "services"), str(ROOT / "libs")]),
        }
        argv = [sys.executable, "-m", "md_ingest", "--config", str(self.config), "--health-port", str(self.health)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        return self

    def metric(self, name: str, absent: float = 0.0) -> float:
        """One sample of /metrics (``absent`` when it has none yet, -1 when the process does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health}/metrics", timeout=2) as rsp:
                text = rsp.read().decode()
        except OSError:
            return -1.0
        for line in text.splitlines():
            if line.startswith(f"tradebus_{name}"):
                return float(line.rsplit(" ", 1)[1])
        return absent

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(WAIT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _config(path: Path, nats_url: str, var: Path, ctp: tuple[int, int], instance: str) -> Path:
    td, md = ctp
    path.write_text(f"""
[nats]
url = "{nats_url}"
reconnect_wait_s = 0.2
[data]
dir = "{var}"
[log]
format = "json"
[ctp]
md_front = "sim://127.0.0.1:{md}"
td_front = "sim://127.0.0.1:{td}"
password = "123456"
auth_code = "0000000000000000"
[md]
instance_id = "{instance}"
futu = false
ctp = true
lease_s = {LEASE_S}
stale_hours = "always"
backoff_initial_s = 0.2
backoff_max_s = 1.0
subscriptions = ["ctp.{STATIC[0]}.{STATIC[1]}"]
""")
    return path


async def _holder(bus: Bus) -> FeedFence | None:
    fence = await last_message(bus.js, "MD", md_fence("ctp"), MARKET_DATA_DECODER)
    return fence if isinstance(fence, FeedFence) else None


async def _stream_check(bus: Bus) -> dict[str, Any]:
    """Read the whole MD stream: no tick stored twice, ``seq`` strictly growing, the fences in order."""
    seen: set[tuple[object, ...]] = set()
    last_seq, ticks, holders = 0, 0, []
    async for _, _subject, data in read_stream(bus.js, "MD", "md.>", idle_timeout=10):
        message = MARKET_DATA_DECODER.decode(data)
        if isinstance(message, FeedFence):
            if not holders or holders[-1] != message.holder:
                holders.append(message.holder)
        elif isinstance(message, Tick):
            ident = tick_id(message)
            assert ident not in seen, f"tick stored twice: {message}"
            seen.add(ident)
            assert message.seq > last_seq, f"seq went back from {last_seq} to {message.seq}: a second writer"
            last_seq, ticks = message.seq, ticks + 1
    return {"ticks": ticks, "holders": holders}


async def _ticks_since(bus: Bus, symbol: tuple[str, str], after_seq: int) -> int:
    tick = await last_message(bus.js, "MD", f"md.tick.ctp.{symbol[0]}.{symbol[1]}", MARKET_DATA_DECODER)
    return tick.seq if isinstance(tick, Tick) and tick.seq > after_seq else 0


class LiveTicks:
    """What a live subscriber sees: every md.tick/md.fence message in arrival order (one core subscription,
    so in the server's order), and the ticks an SDK client's market-data subscription let through."""

    def __init__(self) -> None:
        self.raw: list[tuple[Any, int, Any]] = []  # (message, holding, decoded)
        self.admitted: list[tuple[int, tuple[object, ...]]] = []  # (holding, tick_id)

    async def on_raw(self, msg: Any) -> None:
        if not msg.subject.startswith(("md.tick.", "md.fence.")):
            return
        message = MARKET_DATA_DECODER.decode(msg.data)
        holding = message.ts_event if isinstance(message, FeedFence) else int((msg.headers or {})[HOLDING_HEADER])
        self.raw.append((msg, holding, message))

    def holding_of(self, holder: str) -> int:
        return next(h for _, h, m in reversed(self.raw) if isinstance(m, FeedFence) and m.holder == holder)

    def last_tick_of(self, holding: int) -> Any:
        return next(msg for msg, h, m in reversed(self.raw) if isinstance(m, Tick) and h == holding)

    async def on_admitted(self, msg: Any) -> None:
        tick = MARKET_DATA_DECODER.decode(msg.data)
        assert isinstance(tick, Tick)
        self.admitted.append((int((msg.headers or {})[HOLDING_HEADER]), tick_id(tick)))

    def late(self) -> int:
        """Ticks that arrived after a newer holding had been seen (fence or tick): a deposed holder's."""
        newest, late = 0, 0
        for _msg, holding, message in self.raw:
            if isinstance(message, Tick) and holding < newest:
                late += 1
            newest = max(newest, holding)
        return late

    def check(self, dropped: int) -> None:
        holdings = [holding for holding, _ in self.admitted]
        assert holdings == sorted(holdings), "a tick of an older holding passed after one of a newer holding"
        idents = [ident for _, ident in self.admitted]
        assert len(set(idents)) == len(idents), "the same tick content reached the live subscriber twice"
        assert len(set(holdings)) == 3, "ticks of the three holdings (1, 2, 1 again) reached the subscriber"
        assert dropped == self.late(), (dropped, self.late())


async def test_standby_takes_over_and_a_deposed_holder_stores_nothing(
    nats_server: Any, bus: Bus, ctp_front: tuple[SimProcess, int, int], tmp_path: Path
) -> None:
    _, td, md = ctp_front
    var = tmp_path / "var"
    one = MdProcess("1", _config(tmp_path / "md1.toml", nats_server.url, var, (td, md), "1"), tmp_path / "md1.log")
    two = MdProcess("2", _config(tmp_path / "md2.toml", nats_server.url, var, (td, md), "2"), tmp_path / "md2.log")
    await ensure_topology(bus.js, StreamsConfig())  # the MD stream exists before anyone reads it
    live, client = LiveTicks(), Client(bus.nc, "test", WAIT)
    await bus.nc.subscribe("md.>", cb=live.on_raw)
    await client.subscribe_md("md.tick.ctp.>", live.on_admitted)
    try:
        one.start()
        await until_async(lambda: _ticks_since(bus, STATIC, 0), WAIT, "ticks from instance 1", detail=one.log)
        assert (await _holder(bus)).holder == "1"  # type: ignore[union-attr]
        two.start()
        await until(
            lambda: two.metric("md_lease_held", -1) == 0.0 and one.metric("md_lease_held") == 1.0,
            WAIT,
            "instance 2 up as a standby",
            detail=two.log,
        )
        # A subscription asked for on the bus while 1 holds the venue: answered once (by the holder).
        replies: list[SubscriptionReply] = []
        inbox = bus.nc.new_inbox()
        got = asyncio.Event()

        async def on_reply(msg: Any) -> None:
            replies.append(MARKET_CONTROL_DECODER.decode(msg.data))
            got.set()

        await bus.nc.subscribe(inbox, cb=on_reply)
        request = SubscribeRequest(venue="ctp", exchange=ASKED[0], symbol=ASKED[1], requester="test")
        await bus.nc.publish(MD_CTL_SUBSCRIBE, msgspec_encode(request), reply=inbox)
        await asyncio.wait_for(got.wait(), WAIT)
        await until_async(lambda: _ticks_since(bus, ASKED, 0), WAIT, "ticks of the asked instrument")
        await flush_in_order(bus.nc)
        assert len(replies) == 1 and replies[0].ok, replies
        # Exactly one publishes.
        assert one.metric("md_ticks_published_total") > 0 and two.metric("md_ticks_published_total") == 0

        # kill -9 the holder: the standby takes over, subscribes both instruments again, ticks resume.
        before = {s: await _ticks_since(bus, s, 0) for s in (STATIC, ASKED)}
        one.signal(signal.SIGKILL)
        one.proc.wait(WAIT)  # type: ignore[union-attr]
        await until_async(lambda: _fenced_by(bus, "2"), WAIT, "instance 2 takes the venue", detail=two.log)
        for symbol in (STATIC, ASKED):
            await until_async(
                lambda s=symbol: _ticks_since(bus, s, before[s]),
                WAIT,
                f"ticks of {symbol} from the new holder",
                detail=two.log,
            )
        assert two.metric("md_ticks_published_total") > 0

        # The killed one comes back (as its supervisor would restart it) and stands by.
        one.start()
        await until(
            lambda: one.metric("md_lease_held", -1) == 0.0, WAIT, "instance 1 back as a standby", detail=one.log
        )

        # Freeze the holder past its lease: 1 takes over; thawed, 2 stores nothing and exits 3.
        two.signal(signal.SIGSTOP)
        try:
            await until_async(
                lambda: _fenced_by(bus, "1"), WAIT, "instance 1 takes over from the frozen 2", detail=one.log
            )
            mark = {s: await _ticks_since(bus, s, 0) for s in (STATIC, ASKED)}
            await until_async(lambda: _ticks_since(bus, STATIC, mark[STATIC]), WAIT, "ticks from instance 1 again")
            # What 2's nats-py buffer would send when it thaws (it rarely holds anything at the moment of the
            # SIGSTOP, so the test sends it): 2's last tick again, same bytes and headers. A live subscriber
            # that let it through would see that content twice, and an older holding after a newer one.
            stale = live.last_tick_of(live.holding_of("2"))
            await bus.nc.publish(stale.subject, stale.data, headers=stale.headers)
            await until(lambda: client.holdings.dropped >= 1, WAIT, "the live subscriber drops 2's late tick")
        finally:
            two.signal(signal.SIGCONT)
        code = await asyncio.to_thread(two.proc.wait, WAIT)  # type: ignore[union-attr]
        assert code == 3, two.log()
        assert "venue lease lost" in two.log()
        await until_async(lambda: _ticks_since(bus, ASKED, mark[ASKED]), WAIT, "asked instrument on instance 1")

        one.signal(signal.SIGTERM)
        assert await asyncio.to_thread(one.proc.wait, WAIT) == 0  # type: ignore[union-attr]
        checked = await _stream_check(bus)
        assert checked["holders"] == ["1", "2", "1"], checked
        assert checked["ticks"] > 10
        await flush_in_order(bus.nc)
        live.check(client.holdings.dropped)
    finally:
        for p in (one, two):
            if p.proc is not None and p.proc.poll() is None:
                with_cont = p.proc.pid
                os.kill(with_cont, signal.SIGCONT)
            p.stop()


async def _fenced_by(bus: Bus, holder: str) -> bool:
    fence = await _holder(bus)
    return fence is not None and fence.holder == holder


def msgspec_encode(message: Any) -> bytes:
    import msgspec

    return msgspec.json.encode(message)
