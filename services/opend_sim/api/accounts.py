"""The Futu trading accounts that OpenD lists for the logged-in user, each backed by a sim account.

Account ids derive from the login account only, so they are the same after every restart of the
simulator, as a real broker's are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from opend_sim.api.mapping import TRD_ENV_REAL, TRD_ENV_SIMULATE
from tradebus.sim import InstrumentKind, SimMarket

ACC_TYPE_CASH = 1
SIM_ACC_TYPE_STOCK = 1
SECURITY_FIRM_FUTUSECURITIES = 1
ACC_STATUS_ACTIVE = 0

# (trdEnv, market, currency, opening cash): one cash account per market and environment.
# Paper accounts start with Futu's default 1,000,000; the "real" ones with a plausible retail balance.
ACCOUNT_SPECS: tuple[tuple[int, str, str, float], ...] = (
    (TRD_ENV_REAL, "HK", "HKD", 500_000.0),
    (TRD_ENV_REAL, "US", "USD", 100_000.0),
    (TRD_ENV_SIMULATE, "HK", "HKD", 1_000_000.0),
    (TRD_ENV_SIMULATE, "US", "USD", 1_000_000.0),
)
_REAL_ID_BASE = 281_756_000_000_000  # real Futu acc ids are 15-18 digits
_SIM_ID_BASE = 10_000_000  # paper acc ids are short


@dataclass(frozen=True, slots=True)
class FutuAccount:
    acc_id: int
    env: int
    market: str
    currency: str
    cash: float
    sim_name: str  # the account's name on the SimMarket
    card_num: str


def _user_seed(login_account: str) -> int:
    return int.from_bytes(hashlib.sha256(login_account.encode()).digest()[:4], "big") % 100_000


def build_accounts(login_account: str) -> list[FutuAccount]:
    seed = _user_seed(login_account)
    out: list[FutuAccount] = []
    for index, (env, market, currency, cash) in enumerate(ACCOUNT_SPECS, start=1):
        base = _REAL_ID_BASE if env == TRD_ENV_REAL else _SIM_ID_BASE
        acc_id = base + seed * 10 + index
        kind = "real" if env == TRD_ENV_REAL else "paper"
        out.append(FutuAccount(acc_id, env, market, currency, cash, f"futu-{kind}-{market.lower()}-{acc_id}",
                               f"1001{acc_id % 10**12:012d}"))
    return out


def open_on_market(market: SimMarket, accounts: list[FutuAccount]) -> None:
    """Open the sim accounts that do not exist yet (a restored market already has them)."""
    existing = set(market.accounts())
    for acc in accounts:
        if acc.sim_name not in existing:
            market.open_account(acc.sim_name, kind=InstrumentKind.STOCK, currency=acc.currency, cash=acc.cash)
