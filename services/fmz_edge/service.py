"""fmz_edge: the FMZ custom-protocol plug-in, answered from the bus.

Per request: HTTP (``http.py``) → envelope (``protocol.py``) → key pair → user (``UserStore``) →
nonce (``nonce.py``) → path → venue account (``access.py``) → method (``methods.py``). Every failure
at any step is ``{"error": …}`` with HTTP 200, and nothing after the failing step runs.
"""

from __future__ import annotations

import time

from fmz_edge.access import resolve_account
from fmz_edge.http import HttpServer, Request
from fmz_edge.marketdata import MarketData
from fmz_edge.methods import Call, dispatch
from fmz_edge.nonce import NonceError, NonceGuard, NonceLedger
from fmz_edge.protocol import ERROR_GET, FmzError, error, ok, parse_envelope
from fmz_edge.symbols import SymbolError
from fmz_edge.trading import Trading
from tradebus.config import Config
from tradebus.logs import get_logger
from tradebus.md_lease import requester_name
from tradebus.ratelimit import LoginGuard, Throttled
from tradebus.runtime import Service
from tradebus.users import User, UserError, UserStore
from tradebus.venue_directory import VenueDirectory

log = get_logger("fmz_edge")


class FmzEdge(Service):
    name = "fmz_edge"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.cfg = config.fmz
        self.instance_id = self.cfg.instance_id
        self.users = UserStore.for_config(config)
        self.nonces = NonceGuard(self.cfg.nonce_window_s, self.cfg.nonce_reorder_s)
        # Key pairs are checked like passwords (tradebus.ratelimit): slowed per address after failures.
        self.key_guard = LoginGuard(self.cfg.key_fail_base_delay_s, self.cfg.key_fail_max_delay_s,
                                    self.cfg.key_fail_window_s)
        self.http = HttpServer(self.handle, error, max_body=self.cfg.max_body_bytes,
                               max_header=self.cfg.max_header_bytes, idle_timeout=self.cfg.idle_timeout_s)
        self.md: MarketData | None = None
        self.ledger: NonceLedger | None = None
        self.directory: VenueDirectory | None = None
        self.port = 0
        self._requests = self.metrics.counter("fmz_requests_total", "FMZ requests answered", ("method", "outcome"))

    async def start(self) -> None:
        self.md = MarketData(self.bus, requester=requester_name(self.name, self.instance_id),
                             lease_s=self.cfg.md_lease_s, request_timeout=self.cfg.request_timeout_s,
                             wait_first_tick=self.cfg.md_wait_s)
        self.md.leases.start()
        md = self.md
        self.metrics.gauge("fmz_ticks_deposed_holder", "ticks dropped: sent by a deposed md_ingest holder",
                           source=lambda: float(md.holdings.dropped))
        self.directory = VenueDirectory(self.bus, timeout=self.cfg.request_timeout_s)
        self.ledger = NonceLedger(self.bus, self.cfg.nonce_window_s)
        self.port = await self.http.start(self.cfg.host, self.cfg.port)
        log.info("fmz plug-in listening", host=self.cfg.host, port=self.port)

    async def stop(self) -> None:
        await self.http.close()
        if self.md is not None:
            await self.md.release_all()

    def checks(self) -> dict[str, str]:
        return {"http": "ok" if self.port else "not listening"}

    async def handle(self, request: Request) -> bytes:
        started = time.monotonic()
        method, outcome, who = "-", "error", "-"
        try:
            if request.method != "POST":
                return error(ERROR_GET if request.method == "GET" else f"not support {request.method} method.")
            envelope = parse_envelope(request.body)
            method = envelope.method
            user = await self._verify_key(envelope.access_key, envelope.secret_key, request.peer)
            who = user.name
            self.nonces.check(envelope.access_key, envelope.nonce)
            await self._claim_nonce(envelope.access_key, envelope.nonce)
            assert self.md is not None and self.directory is not None
            venue, account = resolve_account(user, request.path, await self.directory.accounts(user))
            call = Call(venue=venue, account=account, user=user.name, params=envelope.params,
                        http_method=request.headers.get("http-method", ""),
                        trading=Trading(self.bus, venue, account, user.name, timeout=self.cfg.request_timeout_s),
                        md=self.md, config=self.cfg)
            data, raw = await dispatch(envelope.method, call)
            outcome = "ok"
            return ok(data, raw)
        except Throttled:
            log.info("fmz request refused unchecked: key checks throttled", method=method, path=request.path,
                     address=request.peer)
            return error("too many invalid access_key/secret_key pairs from this address; retry later")
        except (FmzError, NonceError, SymbolError, UserError) as exc:
            log.info("fmz request refused", method=method, path=request.path, user=who, error=str(exc))
            return error(str(exc))
        except Exception:
            log.exception("fmz request failed", method=method, path=request.path, user=who)
            return error("internal error in fmz_edge; see its log")
        finally:
            self._requests.inc(1.0, method if method in _KNOWN else "other", outcome)
            log.debug("fmz request", method=method, path=request.path, user=who, outcome=outcome,
                      ms=round((time.monotonic() - started) * 1000, 1))


    async def _claim_nonce(self, access_key: str, nonce: int) -> None:
        """The nonce across every fmz_edge instance (``NonceLedger``). Without the bus a replay could not be
        told from a fresh request, so the request is refused (fail closed)."""
        assert self.ledger is not None
        try:
            await self.ledger.claim(access_key, nonce)
        except NonceError:
            raise
        except Exception as exc:
            log.warning("nonce not claimed", error=str(exc) or type(exc).__name__)
            raise FmzError("replay protection unavailable (the bus is not reachable); retry later") from None

    async def _verify_key(self, access_key: str, secret_key: str, address: str) -> User:
        async with self.key_guard.attempt(access_key, address) as attempt:
            user = self.users.verify_fmz(access_key, secret_key)
            if user is None:
                attempt.failed()
                raise FmzError("invalid access_key or secret_key")
            attempt.succeeded()
            return user


_KNOWN = frozenset({"ticker", "depth", "trades", "records", "accounts", "assets", "positions", "trade", "orders",
                    "order", "historyorders", "cancel"})
