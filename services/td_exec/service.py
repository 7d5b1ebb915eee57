"""The td_exec service on the shared runtime: venues from ``[td]``, the engine, the command endpoint."""

from __future__ import annotations

from pathlib import Path

from td_exec.commands import CommandServer
from td_exec.engine import AccountStatus, Engine
from td_exec.venues import build_venues
from tradebus.bus import Bus, connect
from tradebus.config import Config
from tradebus.runtime import Service
from tradebus.users import UserStore


class TdExecService(Service):
    name = "td_exec"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.instance_id = config.td.instance_id
        self.engine: Engine | None = None
        self.server: CommandServer | None = None
        self.direct_bus: Bus | None = None

    async def start(self) -> None:
        data_dir = Path(self.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at start-up
        venues = build_venues(self.config, data_dir, self.bus)
        self.engine = Engine(self.bus, venues, self.config.td, data_dir, self.metrics,
                             users=UserStore.for_config(self.config))
        await self.engine.start()
        # The held accounts' own subscriptions need a connection of their own (td_exec.commands).
        self.direct_bus = await connect(self.config.nats, f"{self.name}-direct")
        self.server = CommandServer(self.engine, self.direct_bus)
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
        if self.engine is not None:
            await self.engine.stop()
        if self.direct_bus is not None:  # after the engine: a command it still answers goes out on it
            await self.direct_bus.close()

    def checks(self) -> dict[str, str]:
        if self.engine is None:
            return {"engine": "starting"}
        out: dict[str, str] = {}
        for name, link in self.engine.links.items():
            if not link.connected:
                out[f"venue_{name}"] = f"disconnected: {link.reason}"
                continue
            # Healthy means ready for commands: an account still merging the venue's view is not. An account
            # another instance holds (STANDBY) is healthy here: its commands are forwarded to the holder.
            mine = {acct: state.status for (venue, acct), state in self.engine.accounts.items() if venue == name}
            waiting = sorted(a for a, s in mine.items() if s not in (AccountStatus.READY, AccountStatus.STANDBY))
            standby = sorted(a for a, status in mine.items() if status is AccountStatus.STANDBY)
            out[f"venue_{name}"] = (f"reconciling {', '.join(waiting)}" if waiting else
                                    f"ok, STANDBY: {', '.join(standby)}" if standby else "ok")
        store = self.engine.store
        out["spool"] = "full: events refused, see log" if store.full else (
            "ok" if store.spool.empty else f"holding {store.spool.size} bytes until NATS answers")
        return out
