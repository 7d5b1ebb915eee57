"""The Futu trading accounts that OpenD lists for the logged-in user, each backed by a sim account.

Which accounts and their ids (stable across restarts, derived from the login account) are decided in
``tradebus.sim.futu_accounts``; this module adds OpenD's wire values.
"""

from __future__ import annotations

from dataclasses import dataclass

from opend_sim.api.mapping import TRD_ENV_REAL, TRD_ENV_SIMULATE
from tradebus.sim import InstrumentKind, SimMarket
from tradebus.sim.futu_accounts import simulated_futu_accounts

ACC_TYPE_CASH = 1
SIM_ACC_TYPE_STOCK = 1
SECURITY_FIRM_FUTUSECURITIES = 1
ACC_STATUS_ACTIVE = 0


@dataclass(frozen=True, slots=True)
class FutuAccount:
    acc_id: int
    env: int
    market: str
    currency: str
    cash: float
    sim_name: str  # the account's name on the SimMarket
    card_num: str


def build_accounts(login_account: str) -> list[FutuAccount]:
    return [FutuAccount(acc.acc_id, TRD_ENV_REAL if acc.real else TRD_ENV_SIMULATE, acc.market, acc.currency,
                        acc.cash, acc.sim_name, acc.card_num)
            for acc in simulated_futu_accounts(login_account)]


def open_on_market(market: SimMarket, accounts: list[FutuAccount]) -> None:
    """Open the sim accounts that do not exist yet (a restored market already has them)."""
    existing = set(market.accounts())
    for acc in accounts:
        if acc.sim_name not in existing:
            market.open_account(acc.sim_name, kind=InstrumentKind.STOCK, currency=acc.currency, cash=acc.cash)
