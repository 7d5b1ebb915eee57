"""The accounts ``tradebus up`` grants to the first edge user are exactly those opend_sim serves."""

from __future__ import annotations

from opend_sim.api.accounts import build_accounts
from opend_sim.api.mapping import TRD_ENV_REAL, TRD_ENV_SIMULATE
from supervisor.first_user import simulated_accounts
from supervisor.registry import SIM_LOGIN_ACCOUNT
from tradebus.config import Config


def test_first_user_gets_every_account_opend_sim_lists() -> None:
    config = Config()
    served = [f"futu:{acc.acc_id}" for acc in build_accounts(SIM_LOGIN_ACCOUNT)]
    assert simulated_accounts(config) == [f"ctp:{config.ctp.user_id}", *served]


def test_account_ids_are_stable_and_distinct_per_login() -> None:
    first = build_accounts("10000001")
    assert [a.acc_id for a in first] == [a.acc_id for a in build_accounts("10000001")]
    assert {a.acc_id for a in first}.isdisjoint(a.acc_id for a in build_accounts("10000002"))
    assert [(a.env, a.market) for a in first] == [(TRD_ENV_REAL, "HK"), (TRD_ENV_REAL, "US"),
                                                  (TRD_ENV_SIMULATE, "HK"), (TRD_ENV_SIMULATE, "US")]
    assert all(a.sim_name.endswith(str(a.acc_id)) and len(a.card_num) == 16 for a in first)
