"""The ctp_sim process: the trading and market-data ports, the market clock, persistence.

Everything runs on one asyncio loop; the broker and the md hub are synchronous and only queue
bytes on the sessions' transports. Every change to the day is appended to the journal in
``--state-dir`` before the frames it produced are sent (prices every few seconds), and a snapshot is
written at start, at close and every ``journal.SNAPSHOT_EVERY`` records, so a killed front keeps its day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from ctp_sim import clock, journal, state
from ctp_sim.broker import Broker
from ctp_sim.config import FrontConfig
from ctp_sim.md import MdHub
from tradebus.ctp.wire import HEADER, HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT, Frame, ProtocolError, check_length
from tradebus.ctp.wire import decode_payload as decode
from tradebus.ctp.wire import encode as encode_frame
from tradebus.sim import InstrumentKind, SimMarket, default_instruments, synthetic_futures

log = logging.getLogger("ctp_sim")

PRICE_SAVE_INTERVAL = 5.0
MAX_SEND_BUFFER = 64 * 1024 * 1024
READ_CHUNK = 1 << 16
MAX_CATCH_UP_S = 0.05  # the most schedule one late wake-up makes up for (at least one step)
INBOX_FRAMES = 1024  # received, not yet processed requests of one session (the socket pushes back beyond)


def futures_instruments(synthetic: int = 0) -> list[Any]:
    """The real futures, then ``synthetic`` made-up ones (``--synthetic-futures``, for benchmarks)."""
    return [i for i in default_instruments() if i.kind is InstrumentKind.FUTURE] + synthetic_futures(synthetic)


def open_day(config: FrontConfig, now_ns: int) -> tuple[state.DayState, SimMarket]:
    """Yesterday's state rolls to today; today's state is taken as it was."""
    today = clock.trading_day_of(now_ns)
    saved = state.load(config.state_dir)
    if saved is not None and saved.market:
        market = SimMarket.restore(saved.market)
        journal.replay(config.state_dir, saved, market)
        if saved.trading_day != today:
            market.new_trading_day()
            saved = saved.new_day(today)
    else:
        market = SimMarket(futures_instruments(config.synthetic_futures), seed=config.seed)
        saved = state.DayState(trading_day=today)
    for user in config.users:
        if user not in market.accounts():
            market.open_account(user, kind=InstrumentKind.FUTURE, currency="CNY", cash=config.cash)
    return saved, market


def steps_owed(now: float, due: float, interval: float) -> tuple[int, float]:
    """Market steps to take at ``now`` for a step due at ``due``, and when the next one is due.

    Steps keep a fixed schedule instead of sleeping ``interval`` after each one: at short intervals the
    loop's wake-up and the step's own time, added to every interval, held the front near 3.3 k ticks/s
    when 5 k were asked. A late wake-up takes the steps it owes for up to ``MAX_CATCH_UP_S`` of
    schedule (one step at the default half-second interval, as before); a front further behind than
    that (the machine cannot keep up, or the process was stopped) drops the backlog rather than burst.
    """
    if now < due:
        return 0, due
    owed = int((now - due) / interval) + 1
    cap = max(1, int(MAX_CATCH_UP_S / interval))
    if owed > cap:
        return cap, now + interval
    return owed, due + owed * interval


class Front:
    def __init__(self, config: FrontConfig, now_ns: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        self.state, self.market = open_day(config, now_ns())
        self.broker = Broker(config, self.market, self.state, now_ns)
        self.md = MdHub(config, self.market, self.state, now_ns)
        self._writers: set[asyncio.StreamWriter] = set()
        self._outbox: list[tuple[asyncio.StreamWriter, bytes]] = []
        self._last_price_save = time.monotonic()
        self.journal = journal.Journal(config.state_dir, self.state, self.market, fsync=config.journal_fsync)
        self.save()

    # --- persistence --------------------------------------------------------------------------

    def save(self) -> None:
        """The snapshot: the whole day in one file; the journal starts over after it."""
        self.state.market = self.market.snapshot()
        self.state.journal_n = self.journal.n
        state.save(self.config.state_dir, self.state)
        self.journal.reset()
        self.broker.dirty = False
        self.broker.changed_orders.clear()
        self._last_price_save = time.monotonic()

    def _save_if_needed(self) -> None:
        if self.broker.dirty:
            self.journal.record_changes(list(self.broker.changed_orders.values()))
            self.broker.dirty = False
            self.broker.changed_orders.clear()
        elif time.monotonic() - self._last_price_save >= PRICE_SAVE_INTERVAL:
            self.journal.record_prices()
            self._last_price_save = time.monotonic()
        if self.journal.records >= journal.SNAPSHOT_EVERY:
            self.save()

    # --- connections --------------------------------------------------------------------------

    def _sender(self, writer: asyncio.StreamWriter) -> Callable[[Frame], None]:
        # Frames wait in the outbox until the state that produced them is on disk (see _flush),
        # so a front killed at any moment never told a client about an order it then forgets.
        def send(frame: Frame) -> None:
            self._outbox.append((writer, encode_frame(frame)))

        return send

    def _flush(self) -> None:
        self._save_if_needed()
        outbox, self._outbox = self._outbox, []
        for writer, data in outbox:
            if writer.is_closing():
                continue
            if writer.transport.get_write_buffer_size() > MAX_SEND_BUFFER:
                log.warning("dropping a session that does not read its data")
                writer.close()
                continue
            writer.write(data)

    @staticmethod
    async def _frames(reader: asyncio.StreamReader) -> Any:
        """Frames as they arrive. Bytes are taken off the stream in whole chunks, in this task's own
        step (``asyncio.timeout`` adds no task), so what the socket delivered before a reset is
        parsed here rather than lost with the stream's exception."""
        buffer = bytearray()
        while True:
            while len(buffer) >= HEADER.size:
                (length,) = HEADER.unpack_from(buffer)
                check_length(length)
                if len(buffer) < HEADER.size + length:
                    break
                payload = bytes(buffer[HEADER.size:HEADER.size + length])
                del buffer[:HEADER.size + length]
                yield decode(payload)
            async with asyncio.timeout(HEARTBEAT_TIMEOUT):
                chunk = await reader.read(READ_CHUNK)
            if not chunk:
                return
            buffer.extend(chunk)

    async def _receive(self, reader: asyncio.StreamReader, inbox: asyncio.Queue[Frame | None]) -> None:
        """Take every frame off the socket as soon as it arrives; ``None`` marks the line's end."""
        try:
            async for frame in self._frames(reader):
                await inbox.put(frame)
        except (asyncio.IncompleteReadError, ConnectionError, ProtocolError, TimeoutError):
            pass
        finally:
            await inbox.put(None)

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            side: str) -> None:
        """A front processes every request it has received, in order, even when the client is gone
        by then (a disconnect cancels nothing already on the front): an insert held by
        ``--order-ack-delay-ms`` and the requests queued behind it are all taken, their answers are
        dropped with the line, and the orders reach the investor's other and next sessions through
        the private flow."""
        self._writers.add(writer)
        peer = str(writer.get_extra_info("peername"))
        send = self._sender(writer)
        session: Any = self.broker.connect(send, peer) if side == "td" else self.md.connect(send)
        handler = self.broker if side == "td" else self.md
        self._flush()
        inbox: asyncio.Queue[Frame | None] = asyncio.Queue(maxsize=INBOX_FRAMES)
        receiving = asyncio.create_task(self._receive(reader, inbox), name=f"ctp_sim.receive.{peer}")
        try:
            while (frame := await inbox.get()) is not None:
                if side == "td" and frame.op == "ReqOrderInsert" and self.config.order_ack_delay_ms > 0:
                    await asyncio.sleep(self.config.order_ack_delay_ms / 1000)  # a slow front, on purpose
                handler.handle(session, frame)
                self._flush()
                with contextlib.suppress(ConnectionError):  # the client left: its answers go nowhere
                    await writer.drain()
        finally:
            receiving.cancel()
            handler.disconnect(session)
            self._writers.discard(writer)
            writer.close()

    async def _td_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve_client(reader, writer, "td")

    async def _md_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve_client(reader, writer, "md")

    # --- clocks -------------------------------------------------------------------------------

    async def _ticks(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.tick_interval
        due = loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            steps, due = steps_owed(loop.time(), due, interval)
            for _ in range(steps):
                # Quotes reach subscribers through the market's on_quote listener (which also carries
                # the quotes that user trades print between steps); publishing step()'s result too
                # would send every stepped quote twice.
                self.market.step()
            self._flush()

    async def _heartbeats(self) -> None:
        beat = Frame(kind="hb")
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            for s in [*self.broker.sessions.values(), *self.md.sessions.values()]:
                s.send(beat)
            self._flush()

    # --- run ----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        td = await asyncio.start_server(self._td_client, self.config.host, self.config.td_port)
        md = await asyncio.start_server(self._md_client, self.config.host, self.config.md_port)
        td_port = td.sockets[0].getsockname()[1]
        md_port = md.sockets[0].getsockname()[1]
        print(f"ctp_sim ready td_port={td_port} md_port={md_port} trading_day={self.state.trading_day} "
              f"broker_id={self.config.broker_id}", flush=True)
        tasks = [asyncio.create_task(self._ticks()), asyncio.create_task(self._heartbeats())]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            for server in (td, md):
                server.close()
            for writer in list(self._writers):
                writer.close()
            self.save()
            self.journal.close()


async def serve(config: FrontConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await Front(config).run(stop)


def run(config: FrontConfig) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(config))
