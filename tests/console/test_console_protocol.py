"""The console's HTTP and WebSocket protocol against the in-process stack (real NATS, real td_exec engine)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from console_harness import PASSWORDS, ConsoleStack, start_console, stop_console, until
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tradebus.schemas.market import SubscribeRequest, UnsubscribeRequest


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


async def test_page_and_files_are_served_with_strict_headers(console_stack: ConsoleStack) -> None:
    base = console_stack.origin
    status, headers, body = await asyncio.to_thread(http_get, base + "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script src="/console.js" defer></script>' in body and b"<style" not in body
    assert b"http://" not in body and b"https://" not in body  # nothing from elsewhere: works offline
    assert headers["Content-Security-Policy"].startswith("default-src 'self'; connect-src 'self'")
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"
    status, headers, body = await asyncio.to_thread(http_get, base + "/console.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript") and b"innerHTML =" not in body
    status, headers, _ = await asyncio.to_thread(http_get, base + "/console.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    status, _, _ = await asyncio.to_thread(http_get, base + "/../../etc/passwd")
    assert status == 404
    status, _, _ = await asyncio.to_thread(http_get, base + "/static/index.html")
    assert status == 404


async def test_foreign_or_missing_origin_is_refused_with_403(console_stack: ConsoleStack) -> None:
    url = f"ws://127.0.0.1:{console_stack.port}/console/ws"
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, origin="http://evil.example", proxy=None)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as missing:
        await connect(url, proxy=None)
    assert missing.value.response.status_code == 403
    client = await console_stack.client()  # our own page's origin
    await client.send({"type": "ping"})
    assert (await client.recv())["type"] == "pong"


async def test_nothing_before_login_and_a_wrong_password(console_stack: ConsoleStack) -> None:
    client = await console_stack.client()
    await client.send({"type": "watch_add", "instrument": "rb2601"})
    assert await client.recv() == {"type": "error", "message": "log in first"}
    assert await client.quiet(0.6) == []  # no system, market or trading data to a stranger
    await client.send({"type": "login", "user": "alice", "password": "not-her-password"})
    assert await client.recv() == {"type": "login_failed", "message": "Wrong user name or password."}
    await client.send({"type": "login", "user": "nobody", "password": "x"})
    assert (await client.recv())["type"] == "login_failed"
    await client.send({"type": "login", "user": "alice", "password": PASSWORDS["alice"]})
    ok = await client.expect("login_ok")
    assert ok["user"] == "alice" and len(ok["token"]) >= 40 and PASSWORDS["alice"] not in json.dumps(ok)
    assert {(a["venue"], a["account"]) for a in ok["accounts"]} == {("sim", "SIM-FUT"), ("sim", "SIM-HK")}
    system = await client.expect("system")
    assert {"services", "feeds", "opend"} <= set(system)
    await client.expect("orders")
    await client.expect("funds", where=lambda m: {f["account"] for f in m["funds"]} == {"SIM-FUT", "SIM-HK"})


async def test_bad_messages_get_clear_errors_and_the_socket_stays(console_stack: ConsoleStack) -> None:
    client, _ = await console_stack.login()
    cases = [
        ("not json", "bad message: JSON is malformed"),
        ('{"type": "launch_missiles"}', "bad message: Invalid value 'launch_missiles' - at `$.type`"),
        ('{"type": "watch_add"}', "bad message: Object missing required field `instrument`"),
        ('{"type": "place", "venue": "sim", "account": "SIM-FUT", "instrument": "rb2601", "side": "buy", '
         '"price": 3000, "qty": "two"}', "bad message: Expected `int`, got `str` - at `$.qty`"),
        ('{"type": "ping", "extra": 1}', "bad message: Object contains unknown field `extra`"),
        ("[1, 2]", "bad message: Expected `object`, got `array`"),
    ]
    for frame, start in cases:
        await client.send(frame)
        error = await client.expect("error")
        assert error["message"].startswith(start), (frame, error)
    await client.send(b"\x00\x01")
    assert (await client.expect("error"))["message"].startswith("binary frames are not supported")
    await client.send({"type": "login", "user": "alice", "password": PASSWORDS["alice"]})
    assert (await client.expect("error"))["message"] == "already logged in as alice"
    await client.send({"type": "ping"})
    await client.expect("pong")


async def test_rate_limit_answers_and_keeps_the_connection(nats_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    built = await start_console(nats_server.url, tmp_path, rate_per_s=1.0, rate_burst=3)
    try:
        client = await built.client()
        for _ in range(5):
            await client.send({"type": "ping"})
        replies = [await client.recv() for _ in range(5)]
        assert [r["type"] for r in replies].count("pong") == 3
        assert {r["message"] for r in replies if r["type"] == "error"} == {"too many requests: at most 1 per second"}
    finally:
        await stop_console(built)


async def test_resume_after_reload_and_logout_ends_the_session(console_stack: ConsoleStack) -> None:
    first, ok = await console_stack.login()
    token = ok["token"]
    await first.ws.close()
    second = await console_stack.client()  # a reload: the page resumes with the token, not the password
    await second.send({"type": "resume", "token": token})
    resumed = await second.expect("login_ok")
    assert resumed["user"] == "alice" and resumed["expires_at"] == ok["expires_at"]
    await second.send({"type": "logout"})
    assert (await second.expect("logged_out"))["message"] == "You are logged out."
    with pytest.raises(ConnectionClosed):
        await second.recv(2.0)
    assert second.ws.close_code == 4000
    third = await console_stack.client()
    await third.send({"type": "resume", "token": token})
    failed = await third.expect("login_failed")
    assert failed["message"].startswith("Your session is no longer valid")
    await third.send({"type": "resume", "token": "made-up"})
    assert (await third.expect("login_failed"))["resumed"] is True


async def test_session_expires_with_a_message_and_the_token_dies(nats_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    built = await start_console(nats_server.url, tmp_path, console_session_s=1.5)
    try:
        client, ok = await built.login()
        expired = await client.expect("session_expired", timeout=5.0)
        assert expired["message"] == "Your session expired — log in again."
        with pytest.raises(ConnectionClosed):
            await client.recv(2.0)
        assert client.ws.close_code == 4001
        again = await built.client()
        await again.send({"type": "resume", "token": ok["token"]})
        assert (await again.expect("login_failed"))["message"].startswith("Your session is no longer valid")
        await again.send({"type": "watch_add", "instrument": "rb2601"})
        assert (await again.expect("error"))["message"] == "log in first"
    finally:
        await stop_console(built)


async def test_watch_list_quotes_live_and_releases_on_close(console_stack: ConsoleStack) -> None:
    md = console_stack.stack.md
    client, _ = await console_stack.login()
    await client.send({"type": "watch_add", "instrument": "nosuch"})
    bad = await client.expect("watch_result")
    assert bad["ok"] is False and bad["message"].startswith("unknown instrument 'nosuch'")
    await md.publish(md.tick("sim", "SHFE", "rb2601", 3112.0))
    await client.send({"type": "watch_add", "instrument": "rb2601"})
    assert (await client.expect("watch_result"))["ok"] is True
    assert (await client.expect("watch"))["instruments"] == ["rb2601"]
    first = await client.expect("quotes")
    assert first["rows"][0]["instrument"] == "rb2601" and first["rows"][0]["last"] == 3112.0
    assert first["rows"][0]["bid"] == 3111.0 and first["rows"][0]["ask"] == 3113.0
    for price in (3113.0, 3114.0, 3115.0):  # a burst: the page gets the newest, not every one
        await md.publish(md.tick("sim", "SHFE", "rb2601", price))
    last = await client.expect("quotes", where=lambda m: m["rows"][0]["last"] == 3115.0)
    assert last["rows"][0]["volume"] > first["rows"][0]["volume"]
    assert md.count(SubscribeRequest, "rb2601") == 1
    await client.ws.close()
    await until(lambda: md.count(UnsubscribeRequest, "rb2601") == 1, 5, "the console's reference released")


async def test_order_ticket_fill_cancel_and_refusals(console_stack: ConsoleStack) -> None:
    client, _ = await console_stack.login()
    ticket = {"type": "place", "venue": "sim", "account": "SIM-FUT", "instrument": "rb2601", "side": "buy",
              "offset": "open", "qty": 2}

    def order_with(price: float, status: str) -> Any:
        return lambda m: any(o["price"] == price and o["status"] == status for o in m["orders"])

    await client.send({**ticket, "price": 3200.0})  # marketable: fills at once
    got = await client.expect_all({
        "order_result": None, "orders": order_with(3200.0, "filled"), "fills": lambda m: m["fills"],
        "positions": lambda m: any(p["instrument"] == "rb2601" and p["side"] == "long" and p["qty"] == 2
                                   for p in m["positions"])})
    placed = got["order_result"]
    assert placed["ok"] is True and placed["client_order_id"].startswith("ws-1-")
    filled = got["orders"]["orders"][0]
    assert filled["client_order_id"] == placed["client_order_id"]
    assert filled["filled"] == 2 and filled["working"] is False
    assert got["fills"]["fills"][0]["qty"] == 2 and got["fills"]["fills"][0]["instrument"] == "rb2601"
    assert got["positions"]["positions"][0]["account"] == "SIM-FUT"

    await client.send({**ticket, "price": 3000.0})  # rests
    got = await client.expect_all({"order_result": None, "orders": order_with(3000.0, "accepted")})
    resting = got["orders"]["orders"][0]
    assert resting["working"] is True and resting["client_order_id"] == got["order_result"]["client_order_id"]
    cancel = {"type": "cancel", "venue": "sim", "account": "SIM-FUT", "client_order_id": resting["client_order_id"]}
    await client.send(cancel)
    got = await client.expect_all({"cancel_result": None, "orders": order_with(3000.0, "cancelled")})
    assert got["cancel_result"]["ok"] is True
    await client.send(cancel)
    again = await client.expect("cancel_result")
    assert again["ok"] is False and again["message"].endswith("is already cancelled")

    refusals = [
        ({**ticket, "price": 3000.5}, "refused by td_exec: price 3000.5 is not a multiple of the tick 1.0 of rb2601"),
        ({**ticket, "price": 3000.0, "qty": 0}, "refused by td_exec: quantity must be positive, got 0"),
        ({**ticket, "price": 3000.0, "instrument": "zz9999"}, "unknown instrument 'zz9999'"),
        ({**ticket, "price": 3000.0, "account": "SIM-US"}, "account sim:SIM-US is not one of yours"),
        ({**ticket, "price": 3000.0, "offset": ""}, "a futures order needs an offset"),
    ]
    for order, text in refusals:
        await client.send(order)
        result = await client.expect("order_result")
        assert result["ok"] is False and result["message"].startswith(text), result


async def test_a_wildcard_grant_lets_the_ticket_use_any_account_of_that_venue(console_stack: ConsoleStack) -> None:
    console_stack.stack.users.add("carol", "carol-password-1", ["sim:*"])
    client = await console_stack.client()
    await client.send({"type": "login", "user": "carol", "password": "carol-password-1"})
    ok = await client.expect("login_ok")
    # the wildcard stands for the accounts td_exec lists for the venue (panels show each of them)
    assert [(a["venue"], a["account"]) for a in ok["accounts"]] == [("sim", "SIM-FUT"), ("sim", "SIM-HK"),
                                                                  ("sim", "SIM-US")]
    await client.send({"type": "place", "venue": "sim", "account": "SIM-FUT", "instrument": "rb2601", "side": "buy",
                       "offset": "open", "qty": 1, "price": 3000.0})
    result = await client.expect("order_result")
    assert result["ok"] is True, result
