"""ctp_sim's settings, from the command line and the environment."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

from tradebus.sim.instruments import MAX_SYNTHETIC_FUTURES

DEFAULT_USER = "000001"
DEFAULT_PASSWORD = "123456"
# SimNow's public test credentials for terminal authentication.
DEFAULT_APP_ID = "simnow_client_test"
DEFAULT_AUTH_CODE = "0000000000000000"


@dataclass(frozen=True)
class FrontConfig:
    host: str = "127.0.0.1"
    td_port: int = 40001
    md_port: int = 40011
    state_dir: Path = Path("ctp_sim_state")
    tick_interval: float = 0.5
    seed: int = 7
    broker_id: str = "9999"
    front_id: int = 1
    users: dict[str, str] = field(default_factory=lambda: {DEFAULT_USER: DEFAULT_PASSWORD})
    app_id: str = DEFAULT_APP_ID  # empty: ReqAuthenticate is not required
    auth_code: str = DEFAULT_AUTH_CODE
    cash: float = 10_000_000.0
    # Fault injection: the front sits on each ReqOrderInsert this long before taking it (a slow or
    # congested front). The session's later requests wait behind it, as on a real front.
    order_ack_delay_ms: int = 0
    # fsync every journal record (survives losing the machine, at a cost per order); a killed
    # process loses nothing either way
    journal_fsync: bool = False
    # Benchmarks: this many made-up SHFE futures (wr00000…) listed after the real ones, on a fresh state.
    synthetic_futures: int = 0

    @property
    def auth_required(self) -> bool:
        return bool(self.app_id)


def _users(pairs: list[str], user: str, password: str) -> dict[str, str]:
    users = {user: password}
    for pair in pairs:
        name, sep, secret = pair.partition(":")
        if not sep or not name:
            raise SystemExit(f"--extra-user wants ID:PASSWORD, got {pair!r}")
        users[name] = secret
    return users


def parse_args(argv: list[str] | None = None) -> FrontConfig:
    env = os.environ
    p = argparse.ArgumentParser(prog="ctp_sim", description="A simulated CTP trading and market-data front.")
    p.add_argument("--host", default=env.get("CTP_SIM_HOST", "127.0.0.1"))
    p.add_argument("--td-port", type=int, default=int(env.get("CTP_SIM_TD_PORT", "40001")))
    p.add_argument("--md-port", type=int, default=int(env.get("CTP_SIM_MD_PORT", "40011")))
    p.add_argument("--state-dir", type=Path, default=Path(env.get("CTP_SIM_STATE_DIR", "ctp_sim_state")))
    p.add_argument("--tick-interval", type=float, default=float(env.get("CTP_SIM_TICK_INTERVAL", "0.5")),
                   help="seconds between market steps (depth pushes)")
    p.add_argument("--seed", type=int, default=int(env.get("CTP_SIM_SEED", "7")))
    p.add_argument("--broker-id", default=env.get("CTP_SIM_BROKER_ID", "9999"))
    p.add_argument("--front-id", type=int, default=int(env.get("CTP_SIM_FRONT_ID", "1")))
    p.add_argument("--user", default=env.get("CTP_SIM_USER", DEFAULT_USER))
    p.add_argument("--password", default=env.get("CTP_SIM_PASSWORD", DEFAULT_PASSWORD))
    p.add_argument("--extra-user", action="append", default=[], metavar="ID:PASSWORD",
                   help="another investor (repeatable)")
    p.add_argument("--app-id", default=env.get("CTP_SIM_APP_ID", DEFAULT_APP_ID),
                   help="AppID ReqAuthenticate must present; empty disables terminal authentication")
    p.add_argument("--auth-code", default=env.get("CTP_SIM_AUTH_CODE", DEFAULT_AUTH_CODE))
    p.add_argument("--cash", type=float, default=float(env.get("CTP_SIM_CASH", "10000000")),
                   help="opening balance of each investor account (CNY)")
    p.add_argument("--order-ack-delay-ms", type=int, default=int(env.get("CTP_SIM_ORDER_ACK_DELAY_MS", "0")),
                   help="fault injection: hold every order insert this long before the front takes it")
    p.add_argument("--journal-fsync", action="store_true",
                   default=env.get("CTP_SIM_JOURNAL_FSYNC", "") not in ("", "0"),
                   help="fsync each journal record before its answer leaves (not needed for process restarts)")
    p.add_argument("--synthetic-futures", type=int, default=int(env.get("CTP_SIM_SYNTHETIC_FUTURES", "0")),
                   metavar="N", help=f"benchmarks: also list N made-up SHFE futures (0..{MAX_SYNTHETIC_FUTURES})")
    a = p.parse_args(argv)
    if a.tick_interval <= 0:
        p.error("--tick-interval must be positive")
    if a.order_ack_delay_ms < 0:
        p.error("--order-ack-delay-ms cannot be negative")
    if not 0 <= a.synthetic_futures <= MAX_SYNTHETIC_FUTURES:
        p.error(f"--synthetic-futures must be 0..{MAX_SYNTHETIC_FUTURES}")
    return FrontConfig(
        host=a.host, td_port=a.td_port, md_port=a.md_port, state_dir=a.state_dir,
        tick_interval=a.tick_interval, seed=a.seed, broker_id=a.broker_id, front_id=a.front_id,
        users=_users(a.extra_user, a.user, a.password), app_id=a.app_id, auth_code=a.auth_code, cash=a.cash,
        order_ack_delay_ms=a.order_ack_delay_ms, journal_fsync=a.journal_fsync,
        synthetic_futures=a.synthetic_futures,
    )
