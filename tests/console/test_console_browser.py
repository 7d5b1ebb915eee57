"""The web console in headless Chromium: the operator's whole day on `tradebus up`, and the clear messages.

Every step saves a screenshot under ``test-artifacts/console/``. Waits are Playwright's auto-waiting
assertions with deadlines; nothing sleeps.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_harness import PASSWORDS, console_page, require_chromium, threaded_console_stack
from up_harness import UpRun, run_up, wait_for

STARTUP_S = 90_000  # ms: OpenD's login through auth_broker, feeds, the first heartbeats
LIVE_S = 20_000  # ms: a price change, a fill, a cancel
# What the System panel shows for each process once everything is up (the simulators have no heartbeat of
# their own: the supervisor's children table speaks for them).
HEALTHY = {"md_ingest": "ok", "td_exec": "ok", "auth_broker": "ok", "ws_edge": "ok", "fmz_edge": "ok",
           "supervisor": "ok", "ctp_sim": "running"}
SERVICES = tuple(HEALTHY)


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpRun]:
    require_chromium()
    with run_up(tmp_path_factory.mktemp("console-up")) as run:
        wait_for(lambda: "user=demo password=" in run.output(), 60, "tradebus up to print the demo user")
        yield run


def console_url(run: UpRun) -> str:
    return f"http://127.0.0.1:{run.ports['ws_md']}/"


def log_in(page: Any, user: str, password: str) -> None:
    page.fill("#login-user", user)
    page.fill("#login-password", password)
    page.click("#login-submit")


def price_of(page: Any, selector: str) -> float:
    return float(page.locator(selector).inner_text().replace(",", ""))


def futures_account(run: UpRun) -> str:
    venue, account = next((v, a) for v, a in run.demo_accounts() if v == "ctp")
    return f"{venue}|{account}"


def place(page: Any, account: str, instrument: str, side: str, price: float, qty: int, offset: str = "open") -> str:
    """Fill the ticket and send it; the client order id the console answers with."""
    page.select_option("#ticket-account", account)
    page.fill("#ticket-instrument", instrument)
    page.select_option("#ticket-side", side)
    if page.locator("#ticket-offset").is_visible():
        page.select_option("#ticket-offset", offset)
    page.fill("#ticket-price", f"{price:g}")
    page.fill("#ticket-qty", str(qty))
    page.click("#ticket-submit")
    expect(page.locator("#ticket-message")).to_have_text(re.compile(r"^Order sent: \S+"), timeout=LIVE_S)
    return page.locator("#ticket-message").inner_text().removeprefix("Order sent: ")


def service_state(page: Any, service: str) -> Any:
    return page.locator(f'#services tr[data-service="{service}"] .state')


def position_qty(page: Any, instrument: str, side: str) -> int:
    rows = page.locator(f'#positions tr[data-position="{instrument}|{side}"] .qty')
    return sum(int(text) for text in rows.all_inner_texts())


def test_operator_day_login_code_feeds_quotes_fill_cancel(up: UpRun, browser: Any) -> None:
    password = up.demo_credentials()[0]
    with console_page(browser, "operator") as (page, shot):
        page.goto(console_url(up))
        expect(page.locator("#login-form")).to_be_visible()
        expect(page.locator("#app-view")).to_be_hidden()  # nothing but the login form before a login
        shot("login-form")

        log_in(page, "demo", password)
        expect(page.locator("#app-view")).to_be_visible(timeout=LIVE_S)
        expect(page.locator("#who")).to_have_text("demo")
        expect(service_state(page, "ws_edge")).to_have_text("ok", timeout=STARTUP_S)
        for service in SERVICES:  # md_ingest and td_exec are degraded until OpenD is logged in
            expect(service_state(page, service)).to_be_visible(timeout=STARTUP_S)
        shot("logged-in")

        # opend_sim asks for an SMS code on a new device: the page says so and takes it.
        banner = page.locator("#opend-banner")
        expect(banner).to_be_visible(timeout=STARTUP_S)
        expect(page.locator("#opend-banner-text")).to_contain_text("asking for the SMS verification code")
        expect(page.locator("#opend tr .state").first).to_have_text("REQUESTING VERIFY CODE")
        shot("opend-asks-for-code")
        page.fill("#code-input", "123456")
        page.click("#code-submit")
        expect(page.locator("#opend tr .state").first).to_have_text("CONNECTED", timeout=STARTUP_S)
        expect(banner).to_be_hidden()
        for venue in ("ctp", "futu"):
            expect(page.locator(f'#feeds tr[data-feed="{venue}"] .state')).to_have_text("UP", timeout=STARTUP_S)
        for service in SERVICES:
            expect(service_state(page, service)).to_have_text(HEALTHY[service], timeout=STARTUP_S)
        shot("opend-connected-feeds-up")

        # Market: add an instrument and see its price move.
        page.fill("#watch-input", "rb2601")
        page.click("#watch-add")
        last = page.locator('#watch tr[data-instrument="rb2601"] .last')
        expect(last).to_have_text(re.compile(r"^[0-9.,]+$"), timeout=LIVE_S)
        first_price = last.inner_text()
        shot("instrument-added")
        expect(last).not_to_have_text(first_price, timeout=LIVE_S)
        expect(page.locator("#chart-title")).to_have_text("rb2601")
        shot("price-changed")

        # Trading: a marketable buy fills and the position grows.
        account = futures_account(up)
        before = position_qty(page, "rb2601", "long")
        ask = price_of(page, '#watch tr[data-instrument="rb2601"] .ask')
        coid = place(page, account, "rb2601", "buy", ask + 5, 1)
        expect(page.locator(f'#orders tr[data-coid="{coid}"]')).to_have_attribute("data-status", "filled",
                                                                                   timeout=LIVE_S)
        expect(page.locator(f'#fills tr[data-coid="{coid}"]')).to_have_count(1, timeout=LIVE_S)
        expect(page.locator('#positions tr[data-position="rb2601|long"] .qty')).to_have_text(str(before + 1),
                                                                                            timeout=LIVE_S)
        shot("order-filled-position-up")

        # A resting buy, then its Cancel button.
        bid = price_of(page, '#watch tr[data-instrument="rb2601"] .bid')
        coid = place(page, account, "rb2601", "buy", bid - 40, 1)
        row = page.locator(f'#orders tr[data-coid="{coid}"]')
        expect(row.locator("button.cancel")).to_be_visible(timeout=LIVE_S)
        expect(row).to_have_attribute("data-status", "accepted", timeout=LIVE_S)
        shot("order-resting")
        row.locator("button.cancel").click()
        expect(row).to_have_attribute("data-status", "cancelled", timeout=LIVE_S)
        expect(row.locator("button.cancel")).to_have_count(0)
        shot("order-cancelled")


def test_rejected_order_shows_tdexecs_reason(up: UpRun, browser: Any) -> None:
    password = up.demo_credentials()[0]
    with console_page(browser, "rejected") as (page, shot):
        page.goto(console_url(up))
        log_in(page, "demo", password)
        expect(page.locator("#app-view")).to_be_visible(timeout=LIVE_S)
        page.select_option("#ticket-account", futures_account(up))
        page.fill("#ticket-instrument", "rb2601")
        page.fill("#ticket-price", "3000.5")  # rb's tick is 1
        page.fill("#ticket-qty", "1")
        page.click("#ticket-submit")
        message = page.locator("#ticket-message")
        expect(message).to_have_text("refused by td_exec: price 3000.5 is not a multiple of the tick 1.0 of rb2601",
                                     timeout=LIVE_S)
        expect(message).to_have_class(re.compile(r"\berror\b"))
        shot("refused-off-tick")
        page.fill("#ticket-instrument", "xx123")
        page.fill("#ticket-price", "10")
        page.click("#ticket-submit")
        expect(message).to_contain_text("unknown instrument 'xx123'", timeout=LIVE_S)
        shot("refused-unknown-instrument")


def test_wrong_password_says_so(up: UpRun, browser: Any) -> None:
    with console_page(browser, "wrong-password") as (page, shot):
        page.goto(console_url(up))
        log_in(page, "demo", "certainly-not-the-password")
        expect(page.locator("#login-message")).to_have_text("Wrong user name or password.", timeout=LIVE_S)
        expect(page.locator("#app-view")).to_be_hidden()
        shot("wrong-password")


def test_expired_session_says_log_in_again(nats_server: Any, tmp_path: Path, browser: Any) -> None:
    with threaded_console_stack(nats_server.url, tmp_path, console_session_s=4.0) as (stack, _loop), \
            console_page(browser, "expired") as (page, shot):
        page.goto(stack.origin + "/")
        log_in(page, "alice", PASSWORDS["alice"])
        expect(page.locator("#app-view")).to_be_visible(timeout=LIVE_S)
        expect(page.locator("#funds tbody tr")).to_have_count(2, timeout=LIVE_S)
        shot("logged-in")
        expect(page.locator("#login-message")).to_have_text("Your session expired — log in again.", timeout=LIVE_S)
        expect(page.locator("#app-view")).to_be_hidden()
        shot("session-expired")
        page.reload()  # the token is gone: a reload does not bring the session back
        expect(page.locator("#login-form")).to_be_visible()
        expect(page.locator("#app-view")).to_be_hidden()
