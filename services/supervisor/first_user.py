"""The first ``tradebus up`` on a machine with no edge users creates one for the simulated accounts.

Its password (and an FMZ key pair) is printed once, on the terminal that ran ``tradebus up``, and
never stored in clear; ``tradebus user`` manages users from then on.
"""

from __future__ import annotations

from supervisor.registry import SIM_LOGIN_ACCOUNT
from tradebus.config import Config
from tradebus.sim.futu_accounts import simulated_futu_accounts
from tradebus.users import UserStore, new_password

DEMO_USER = "demo"


def simulated_accounts(config: Config) -> list[str]:
    """``ctp:<investor>`` of ctp_sim and every Futu account opend_sim opens for the demo login."""
    futu = [f"futu:{acc.acc_id}" for acc in simulated_futu_accounts(SIM_LOGIN_ACCOUNT)]
    return [f"ctp:{config.ctp.user_id}", *futu]


def ensure_first_user(config: Config) -> str | None:
    """Create the demo user when there is none; the lines to print once, or None."""
    store = UserStore.for_config(config)
    if len(store):
        return None
    password = new_password()
    store.add(DEMO_USER, password, simulated_accounts(config))
    access, secret = store.issue_fmz_key(DEMO_USER)
    return (f"first run: created edge user {DEMO_USER!r} for the simulated accounts "
            f"(shown once; manage users with `tradebus user`)\n"
            f"  webctp / web console login: user={DEMO_USER} password={password}\n"
            f"  FMZ plug-in: access_key={access} secret_key={secret}")
