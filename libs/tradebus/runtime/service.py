"""The base every tradebus service runs on.

A service subclasses :class:`Service`, implements ``start``/``stop`` (and optionally ``checks``), and
its ``__main__`` calls :func:`run_service`. The runtime does the rest, identically for every service:

* config from ``--config`` / ``$TRADEBUS_CONFIG`` plus env, exit 2 with one line when it is bad;
* structlog logging with the service name and secret redaction;
* asyncio on uvloop when available;
* a NATS connection that retries until the server is there and reconnects forever afterwards, and the
  JetStream topology declared idempotently;
* ``/healthz`` and ``/metrics`` on the service's port, a heartbeat on ``sys.health.<service>``;
* SIGTERM / SIGINT → ``stop()``, drain the connection, exit — all within ``runtime.stop_timeout_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

import msgspec

from tradebus import __version__
from tradebus.backoff import Backoff
from tradebus.bus import Bus, connect, ensure_topology
from tradebus.config import Config, load_or_exit
from tradebus.logs import configure_logging, get_logger, log_stream
from tradebus.runtime.http import HealthHttpServer
from tradebus.runtime.metrics import Registry
from tradebus.schemas import HealthState, Heartbeat
from tradebus.schemas.health import ChildProcess
from tradebus.subjects import sys_health

log = get_logger("tradebus.runtime")
_json = msgspec.json.Encoder()


class Service:
    """Subclass me. ``self.bus``, ``self.config``, ``self.metrics`` and ``self.data_dir`` are ready in ``start``."""

    name: str = "service"
    instance_id: str = ""  # which of several side-by-side instances this is ("" = the only one)

    def __init__(self, config: Config) -> None:
        self.config = config
        self.metrics = Registry()
        self.bus: Bus = None  # type: ignore[assignment]  # set by the runtime before start()
        self.exit_code = 0
        self.exit_requested = asyncio.Event()

    def exit(self, code: int) -> None:
        """Stop the service and end the process with ``code`` (a supervisor tells a crash from a step-down)."""
        if not self.exit_requested.is_set():
            log.warning("service exiting", code=code)
            self.exit_code = code
            self.exit_requested.set()

    @property
    def data_dir(self) -> str:
        """This service's folder under ``[data] dir``; each of several instances has its own, so two never
        share a spool, a CTP flow file or a lock."""
        folder = f"{self.name}-{self.instance_id}" if self.instance_id else self.name
        return os.path.join(self.config.data.dir, folder)

    async def start(self) -> None:
        """Subscribe, connect to venues, start tasks. Return once the service is serving."""

    async def stop(self) -> None:
        """Stop taking work, finish or persist what is in flight. Bounded by the runtime's timeout."""

    def checks(self) -> dict[str, str]:
        """Named health checks: ``"ok"`` or a short description of what is wrong."""
        return {}

    def children(self) -> tuple[ChildProcess, ...]:
        return ()


class Runtime:
    """Runs one :class:`Service`: the machinery shared by all of them."""

    def __init__(self, service: Service, *, health_port: int) -> None:
        self.service = service
        self.config = service.config
        self.health_port = health_port
        self.state = HealthState.STARTING
        self.started_ns = time.time_ns()
        # host:pid, and the instance name of a service run side by side (host:pid/a), in every heartbeat.
        named = f"/{service.instance_id}" if service.instance_id else ""
        self.instance = f"{socket.gethostname()}:{os.getpid()}{named}"
        self.stop_event = asyncio.Event()
        self.http = HealthHttpServer({"/healthz": self._healthz, "/metrics": self._metrics})
        self.bus: Bus | None = None
        self._nats_up = False
        registry = service.metrics
        self._reconnects = registry.counter("nats_reconnects_total", "NATS reconnections")
        registry.gauge("uptime_seconds", "seconds since the service started",
                       source=lambda: (time.time_ns() - self.started_ns) / 1e9)
        registry.gauge("nats_connected", "1 when connected to NATS", source=lambda: 1.0 if self._nats_up else 0.0)

    # --- health --------------------------------------------------------------------------------

    def all_checks(self) -> dict[str, str]:
        checks = {"nats": "ok" if self._nats_up else "disconnected"}
        try:
            checks.update(self.service.checks())
        except Exception as exc:  # a broken check must not break the health endpoint
            checks["checks"] = f"check failed: {exc}"
        return checks

    def health_state(self) -> HealthState:
        if self.state != HealthState.OK:
            return self.state
        # "ok, <detail>" is healthy too (e.g. td_exec's "ok, standby: …" for accounts another instance holds).
        healthy = all(v == "ok" or v.startswith("ok, ") for v in self.all_checks().values())
        return HealthState.OK if healthy else HealthState.DEGRADED

    def heartbeat(self) -> Heartbeat:
        return Heartbeat(service=self.service.name, instance=self.instance, pid=os.getpid(),
                         state=self.health_state(), started_ns=self.started_ns, ts_event=time.time_ns(),
                         interval_s=self.config.runtime.heartbeat_s, version=__version__,
                         checks=self.all_checks(), children=self.service.children())

    def _healthz(self) -> tuple[int, str, bytes]:
        beat = self.heartbeat()
        return (200 if beat.state == HealthState.OK else 503), "application/json", _json.encode(beat) + b"\n"

    def _metrics(self) -> tuple[int, str, bytes]:
        return 200, "text/plain; version=0.0.4", self.service.metrics.render()

    # --- lifecycle -----------------------------------------------------------------------------

    async def _connect(self) -> Bus:
        """Retry the first connection with backoff: NATS may come up after us (compose, `tradebus up`)."""
        backoff = Backoff(0.2, 5.0)
        while True:
            try:
                bus = await connect(self.config.nats, self.service.name,
                                    on_disconnect=self._on_disconnect, on_reconnect=self._on_reconnect)
                self._nats_up = True
                return bus
            except Exception as exc:
                if self.stop_event.is_set():
                    raise
                delay = backoff.next()
                log.warning("nats not reachable yet", url=self.config.nats.url, error=str(exc) or type(exc).__name__,
                            retry_in_s=round(delay, 2))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), delay)
                if self.stop_event.is_set():
                    raise

    async def _on_disconnect(self) -> None:
        self._nats_up = False

    async def _ensure_topology(self) -> None:
        # Under per-service bus users only a stream's owner may create it; unrestricted (a
        # development bus), any service sets up the whole topology so start order never matters.
        assert self.bus is not None
        owner = self.service.name if self.config.nats.user else None
        await ensure_topology(self.bus.js, self.config.streams, owner, heartbeat_of=self.service.name)

    async def _on_reconnect(self) -> None:
        self._nats_up = True
        self._reconnects.inc()
        # A restarted server has lost its in-memory streams (the heartbeat streams): declare them again, idempotently.
        if self.bus is not None:
            try:
                await self._ensure_topology()
            except Exception as exc:  # the next reconnect tries again; the service keeps running
                log.warning("streams not declared after reconnect", error=str(exc) or type(exc).__name__)

    async def _heartbeats(self) -> None:
        interval = self.config.runtime.heartbeat_s
        while not self.stop_event.is_set():
            if self.bus is not None and self._nats_up:
                with contextlib.suppress(Exception):  # a missed heartbeat is reported by its absence
                    await self.bus.publish(sys_health(self.service.name), self.heartbeat())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), interval)

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop, sig)

    def _request_stop(self, sig: signal.Signals) -> None:
        if not self.stop_event.is_set():
            log.info("stopping", signal=sig.name)
            self.stop_event.set()

    async def run(self) -> int:
        self._install_signals()
        if self.health_port:
            await self.http.start(self.config.runtime.http_host, self.health_port)
        heartbeats: asyncio.Task[None] | None = None
        try:
            try:
                self.bus = await self._connect()
            except Exception:
                return 0 if self.stop_event.is_set() else 1
            self.service.bus = self.bus
            await self._ensure_topology()
            await self.service.start()
            self.state = HealthState.OK
            log.info("service started", version=__version__, health_port=self.health_port or None)
            heartbeats = asyncio.create_task(self._heartbeats(), name="heartbeats")
            exit_wait = asyncio.create_task(self.service.exit_requested.wait(), name="exit-requested")
            stop_wait = asyncio.create_task(self.stop_event.wait(), name="stop-requested")
            await asyncio.wait((exit_wait, stop_wait), return_when=asyncio.FIRST_COMPLETED)
            exit_wait.cancel()
            stop_wait.cancel()
            return self.service.exit_code
        finally:
            await self._shutdown(heartbeats)

    async def _shutdown(self, heartbeats: asyncio.Task[None] | None) -> None:
        self.state = HealthState.STOPPING
        budget = self.config.runtime.stop_timeout_s
        deadline = time.monotonic() + budget
        self.stop_event.set()
        if self.bus is not None and self._nats_up:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.bus.publish(sys_health(self.service.name), self.heartbeat()), 0.5)
        try:
            await asyncio.wait_for(self.service.stop(), max(0.1, deadline - time.monotonic() - 2.5))
        except TimeoutError:
            log.error("service stop timed out; exiting anyway", budget_s=budget)
        except Exception:
            log.exception("service stop failed")
        if heartbeats is not None:
            heartbeats.cancel()
        if self.bus is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.bus.close(), max(0.1, deadline - time.monotonic() - 0.5))
        await self.http.close()
        log.info("service stopped")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=True)
    parser.add_argument("--config", help="TOML configuration file (default: $TRADEBUS_CONFIG or built-in defaults)")
    parser.add_argument("--health-port", type=int, help="port of /healthz and /metrics (default: [health] <service>)")
    return parser.parse_args(argv)


def _event_loop_runner() -> Callable[..., object]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux/macOS
        return asyncio.run
    return uvloop.run


def run_service(factory: Callable[[Config], Service], *, name: str, argv: list[str] | None = None) -> None:
    """Entry point of every service's ``__main__``; exits the process with the service's status."""
    args = _parse_args(argv)
    config = load_or_exit(args.config)
    configure_logging(name, level=config.log.level, fmt=config.log.format, secrets=config.secrets(),
                      stream=log_stream(config.log.stream))
    service = factory(config)
    port = args.health_port if args.health_port is not None else getattr(config.health, name, 0)
    runtime = Runtime(service, health_port=port)
    runner = _event_loop_runner()
    code = runner(runtime.run())
    sys.exit(int(code))  # type: ignore[call-overload]
