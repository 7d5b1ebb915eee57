"""One simulated OpenD process: banner, listeners, the login scenario, shutdown.

Startup order follows OpenD (docs/auth_broker.md, 'Console output' and 'The API port opens before the
login'): banner, "Server startup", the API port opens (it accepts
TCP **before** the login completes, so an open port is not a readiness signal; until then API calls
get OpenD's "not logged in" answers), the telnet port, then the login.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import signal
import sys
import time
from pathlib import Path
from typing import Any, Protocol

from opend_sim.console import Console
from opend_sim.engine import FAILED_EXIT_CODE, OpenDEngine
from opend_sim.options import Options
from opend_sim.scenarios import Scenario
from opend_sim.state_dir import GtwLog
from opend_sim.stdin_reader import start_stdin_reader
from opend_sim.telnet import TelnetServer
from opend_sim.texts import T

# The OpenD release this futu-api (10.11.7108) ships with; the API port reports the same (serverVer 1011).
# Login is modelled with -login_account/-login_pwd(_md5) flags; 10.10's interactive prompts are not.
OPEND_VERSION = "10.11.7108(251015103000)"
API_MARKETS = ("HK", "US")  # of the shared instrument table; the A-shares (SH, SZ) are added to them


class ApiServer(Protocol):
    async def start(self, host: str, port: int) -> int: ...
    async def close(self) -> None: ...


class ApiStartFailed(Exception):
    """The API address is taken; OpenD says so and exits 1."""


class ApiUnavailable(Exception):
    """``opend_sim.api`` is not part of this installation (yet)."""


def build_api_server(opts: Options, engine: OpenDEngine) -> ApiServer:
    try:
        from opend_sim.api import OpenDApiServer
    except ImportError as exc:
        # Only a missing package (or one that does not export the server yet) means "no API port";
        # an import error from inside the API code is a bug and must surface.
        if exc.name != "opend_sim.api":
            raise
        raise ApiUnavailable(str(exc)) from exc
    from tradebus.sim import SimMarket, a_share_instruments, default_instruments

    instruments = [i for i in default_instruments() if i.market in API_MARKETS] + a_share_instruments()
    market = SimMarket(instruments, seed=opts.seed)
    kwargs: dict[str, Any] = {
        "login_account": opts.login_account,
        "trade_pwd_md5": hashlib.md5(opts.trade_pwd.encode()).hexdigest(),
        "is_logged_in": engine.is_logged_in,
    }
    # Optional parameters are handed over only if the API server takes them (its signature is its own).
    optional: dict[str, Any] = {
        "tick_interval": opts.tick_interval,
        "login_status": engine.login_status_text,
        "state_path": broker_state_file(opts.state_dir),
    }
    accepted = inspect.signature(OpenDApiServer).parameters
    kwargs.update({name: value for name, value in optional.items() if name in accepted})
    return OpenDApiServer(market, **kwargs)


def broker_state_file(state_dir: Path) -> Path:
    """The simulated broker's books (accounts, orders, fills). Real OpenD keeps none of this locally:
    it lives at Futu's servers, so it survives an OpenD restart; the simulator keeps it here to match."""
    return state_dir / "SimBroker" / "market.bin"


async def run(opts: Options, scenario: Scenario) -> int:
    console = Console()
    gtw = GtwLog(opts.state_dir, enabled=opts.log_level != "no")
    console.add_sink(gtw.write)
    engine = OpenDEngine(opts, scenario, console, gtw)
    api: ApiServer | None = None
    telnet: TelnetServer | None = None
    try:
        _banner(engine)
        if scenario.exit_at_start:
            engine.say(T.APPDATA_MISSING)
            engine.say(T.EXITED)
            return FAILED_EXIT_CODE
        engine.say(T.SERVER_STARTUP)
        try:
            api = await _start_api(opts, engine)
        except ApiStartFailed:
            return FAILED_EXIT_CODE
        telnet = await _start_telnet(opts, engine, console)
        loop = asyncio.get_running_loop()
        start_stdin_reader(loop, lambda line: engine.handle_line(line, console.print))
        _install_signals(loop, engine)
        loop.call_later(engine.delays.login_start, engine.start_login)
        return await engine.wait_exit()
    finally:
        await engine.close()
        if telnet is not None:
            await telnet.close()
        if api is not None:
            await api.close()
        console.close()


def _banner(engine: OpenDEngine) -> None:
    engine.say(T.VERSION, version=OPEND_VERSION)
    engine.say(T.START_TIME, time=time.strftime("%Y-%m-%d %H:%M:%S"))
    engine.say(T.RUNNING)
    engine.say(T.CFG_LOADED)


async def _start_api(opts: Options, engine: OpenDEngine) -> ApiServer | None:
    addr = f"{opts.api_ip}:{opts.api_port}"
    try:
        server = build_api_server(opts, engine)
    except ApiUnavailable as exc:
        print(f"opend_sim: API port disabled, {exc}", file=sys.stderr, flush=True)
        return None
    try:
        port = await server.start(opts.api_ip, opts.api_port)
    except OSError:
        engine.say(T.API_FAILED, addr=addr)
        engine.say(T.EXITED)
        raise ApiStartFailed(addr) from None
    engine.say(T.API_LISTEN, addr=f"{opts.api_ip}:{port}")
    engine.say(T.API_RSA)
    return server


async def _start_telnet(opts: Options, engine: OpenDEngine, console: Console) -> TelnetServer | None:
    if opts.telnet_port is None:
        return None
    telnet = TelnetServer(console, opts.lang, engine.handle_line)
    try:
        port = await telnet.start(opts.telnet_ip, opts.telnet_port)
    except OSError:
        engine.say(T.TELNET_FAILED, addr=f"{opts.telnet_ip}:{opts.telnet_port}")
        return None
    engine.say(T.TELNET_LISTEN, addr=f"{opts.telnet_ip}:{port}")
    return telnet


def _install_signals(loop: asyncio.AbstractEventLoop, engine: OpenDEngine) -> None:
    def on_signal() -> None:
        engine.say(T.EXITED)
        engine.request_exit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
