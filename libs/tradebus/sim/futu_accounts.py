"""Which Futu accounts the simulated broker opens for a login account, and their ids.

Ids derive from the login account only, so they are the same after every restart of the simulator, as
a real broker's are. ``opend_sim`` serves these accounts over OpenD's API; ``tradebus up`` grants them
to the first edge user. Both read them here, so neither has to ask the other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# (real money?, market, currency, opening cash): one cash account per market and environment.
# Paper accounts start with Futu's default 1,000,000; the "real" ones with a plausible retail balance.
ACCOUNT_SPECS: tuple[tuple[bool, str, str, float], ...] = (
    (True, "HK", "HKD", 500_000.0),
    (True, "US", "USD", 100_000.0),
    (False, "HK", "HKD", 1_000_000.0),
    (False, "US", "USD", 1_000_000.0),
)
_REAL_ID_BASE = 281_756_000_000_000  # real Futu acc ids are 15-18 digits
_SIM_ID_BASE = 10_000_000  # paper acc ids are short


@dataclass(frozen=True, slots=True)
class SimFutuAccount:
    acc_id: int
    real: bool  # a REAL account (False: Futu's paper-trading SIMULATE environment)
    market: str
    currency: str
    cash: float

    @property
    def sim_name(self) -> str:
        """The account's name on the SimMarket."""
        return f"futu-{'real' if self.real else 'paper'}-{self.market.lower()}-{self.acc_id}"

    @property
    def card_num(self) -> str:
        return f"1001{self.acc_id % 10**12:012d}"


def _user_seed(login_account: str) -> int:
    return int.from_bytes(hashlib.sha256(login_account.encode()).digest()[:4], "big") % 100_000


def simulated_futu_accounts(login_account: str) -> list[SimFutuAccount]:
    seed = _user_seed(login_account)
    out: list[SimFutuAccount] = []
    for index, (real, market, currency, cash) in enumerate(ACCOUNT_SPECS, start=1):
        base = _REAL_ID_BASE if real else _SIM_ID_BASE
        out.append(SimFutuAccount(base + seed * 10 + index, real, market, currency, cash))
    return out
