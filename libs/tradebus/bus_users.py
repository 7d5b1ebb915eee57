"""Bus users: strategies that connect to NATS with their own name and password.

A user added with ``tradebus user add NAME --accounts … --bus`` gets a NATS user whose permissions
follow from their account grants, and nothing else:

* read market data (``md.tick.>``, ``md.bar.>``, ``md.status.>``, and ``md.fence.>`` to drop a deposed
  md_ingest holder's ticks), ask for subscriptions
  (``md.ctl.subscribe`` / ``md.ctl.unsubscribe``), read the last stored message of a market-data
  subject (JetStream direct get on stream ``MD``), ask for history (``md.ctl.history``);
* send ``td.cmd.<venue>.<account>`` and follow ``td.evt.<venue>.<account>.>`` (through a consumer of TD_EVT
  delivered to their own inbox) for their own accounts
  only; a ``<venue>:*`` grant becomes the subject wildcard ``td.cmd.<venue>.*`` (every account of that
  venue — the same meaning ``resolve_accounts`` gives it, and it stays right when td_exec lists a new
  account);
* replies on their own inbox ``_INBOX.<name>.>`` (the SDK connects with that inbox prefix).

No JetStream administration and no consumers: a push consumer's deliver subject is free text in
the request body, which subject permissions cannot check, so a strategy allowed to create one could
make the server publish into subjects it may not use. Order history comes from td_exec's queries on
the account's own ``td.cmd`` subject instead (``QueryOrders`` / ``QueryTrades``), and market-data
history from md_ingest's request/reply (``md.ctl.history``).

The entries are added to the ``authorization.users`` array of the generated ``nats.conf``;
:class:`BusUserSync` rewrites the file when ``users.json`` changes and tells nats-server to reload it
(SIGHUP), so adding or removing a bus user takes effect without a restart and a removed user's open
connections are closed by the server. td_exec still checks the user named in every command against
the same store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

from tradebus.logs import get_logger
from tradebus.subjects import MD_CTL_HISTORY, escape_token
from tradebus.users import User, UserStore

log = get_logger("tradebus.bus_users")

USERS_ARRAY = "  users: ["  # the line of render_nats_conf() that opens the user list
POLL_S = 1.0


def grant_tokens(user: User) -> list[tuple[str, str]]:
    """(venue, account token) per grant; ``*`` for a whole venue."""
    tokens = [(venue, escape_token(account)) for venue, account in user.account_list()]
    tokens += [(venue, "*") for venue in user.wildcard_venues()]
    return sorted(set(tokens))


def permissions_for(user: User) -> dict[str, dict[str, list[str]]]:
    """The NATS ``permissions`` block of one bus user (publish / subscribe allow lists)."""
    grants = grant_tokens(user)
    # Order events come through a consumer of TD_EVT filtered to the user's accounts and delivered to its
    # inbox, never a subscription on td.evt (nobody may have one: docs/security.md). The filtered create
    # subject ends in the filter, and nats-server refuses a request whose filter differs from it.
    publish = ["md.ctl.subscribe", "md.ctl.unsubscribe", MD_CTL_HISTORY, "$JS.API.DIRECT.GET.MD.>",
               *(f"td.cmd.{venue}.{account}" for venue, account in grants),
               *(f"$JS.API.CONSUMER.CREATE.TD_EVT.*.td.evt.{venue}.{account}.>" for venue, account in grants)]
    subscribe = ["md.tick.>", "md.bar.>", "md.status.>", "md.fence.>", f"_INBOX.{user.name}.>"]
    return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}}


def conf_entry(user: User) -> str:
    """One ``authorization.users`` entry; JSON is valid nats.conf syntax and quotes every string."""
    entry = {"user": user.name, "password": user.bus_password, "permissions": permissions_for(user)}
    return f"    # bus user {user.name}: {', '.join(user.accounts)}\n    {json.dumps(entry)}\n"


def conf_with_bus_users(base: str, users: list[User]) -> str:
    """``base`` (the generated nats.conf) with one entry per bus user added to its user list."""
    bus = [u for u in users if u.on_bus]
    if not bus:
        return base
    head, found, tail = base.partition(USERS_ARRAY + "\n")
    if not found:
        raise ValueError("nats.conf has no authorization users list to add bus users to")
    return head + found + "".join(conf_entry(u) for u in bus) + tail


class BusUserSync:
    """Keeps ``conf_path`` = ``base`` + the bus users of ``users_path``, and reloads nats-server on change.

    ``server_pids`` gives the live server's pid (None when it is down), or every live node's pids on a
    cluster, whose nodes all include the same file."""

    def __init__(self, base: str, users_path: Path, conf_path: Path,
                 server_pids: Callable[[], int | list[int] | None]) -> None:
        self.base = base
        self.store = UserStore(users_path)
        self.conf_path = conf_path
        self.server_pids = server_pids
        self.reloads = 0

    def write(self) -> None:
        self._write(conf_with_bus_users(self.base, self.store.list()))

    def _write(self, text: str) -> None:
        tmp = self.conf_path.with_name(self.conf_path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, self.conf_path)

    def sync(self) -> bool:
        """Rewrite and reload when the bus users changed; True when nats-server was told to reload.

        Only the bus users reach ``nats.conf``: a change to edge users alone (a new FMZ key, a password of
        a user without ``--bus``) leaves the text as it is and reloads nothing. That matters: a reload makes
        nats-server forget the reply permissions (``allow_responses``) of requests in flight, so a service's
        answer to a request that arrived just before it is refused (docs/security.md, "Bus users and reloads")."""
        if not self.store.refresh():
            return False
        text = conf_with_bus_users(self.base, self.store.list())
        with contextlib.suppress(FileNotFoundError):
            if self.conf_path.read_text() == text:
                return False
        self._write(text)
        found = self.server_pids()
        pids = [found] if isinstance(found, int) else found or []
        if not pids:
            return False
        for pid in pids:
            os.kill(pid, signal.SIGHUP)  # nats-server's "reload configuration" signal
        self.reloads += 1
        log.info("bus users changed: nats-server reloads its configuration",
                 bus_users=sum(1 for u in self.store.list() if u.on_bus))
        return True

    async def run(self, poll_s: float = POLL_S) -> None:
        while True:
            await asyncio.sleep(poll_s)  # the poll period of a file another process writes
            try:
                await asyncio.to_thread(self.sync)
            except Exception:  # a damaged user file or a failed write: keep the last good config, say so
                log.exception("bus users not synced to nats.conf")
