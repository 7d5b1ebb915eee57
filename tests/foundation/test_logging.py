from __future__ import annotations

import io
import json
import logging

import pytest

from tradebus.cli.render import LinePrinter
from tradebus.log_escape import escape_text
from tradebus.logs import configure_logging, get_logger
from tradebus.redact import REDACTOR, Redactor

SECRETS = ["Hunter2-Password", "e10adc3949ba59abbe56e057f20f883e", "tok-abcdef-123"]


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("test_service", level="debug", fmt="json", secrets=SECRETS, stream=stream)
    return stream


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_every_line_is_json_with_the_service_name(captured: io.StringIO) -> None:
    get_logger("x").info("hello", venue="ctp")
    logging.getLogger("futu").warning("from a library")
    lines = _lines(captured)
    assert [line["service"] for line in lines] == ["test_service", "test_service"]
    assert lines[0]["event"] == "hello" and lines[0]["venue"] == "ctp"
    assert lines[1]["logger"] == "futu" and lines[1]["level"] == "warning"


def test_no_secret_reaches_any_log_line(captured: io.StringIO) -> None:
    log = get_logger("auth")
    REDACTOR.add_secret("908172")  # a verify code registered at run time
    log.info("login", password="Hunter2-Password", login_pwd_md5="e10adc3949ba59abbe56e057f20f883e")
    log.info("started OpenD -login_account=12345 -login_pwd=Hunter2-Password -lang=en")
    log.info("sending input_phone_verify_code -code=908172")
    log.info("ws frame", frame={"type": "VERIFY_CODE", "code": "908172"}, args=["-code=908172"])
    log.info("nats connect", url="nats://svc:tok-abcdef-123@127.0.0.1:4222")
    logging.getLogger("futu").error("unlock failed for pwd_md5=e10adc3949ba59abbe56e057f20f883e")
    logging.getLogger("nats").error('CONNECT {"user":"md","pass":"p4ss-w0rd-x","auth_token":"zz"}')
    try:
        raise ValueError("bad password: Hunter2-Password")
    except ValueError:
        log.exception("failed")
    text = captured.getvalue()
    for secret in [*SECRETS, "908172", "p4ss-w0rd-x"]:
        assert secret not in text, secret
    assert text.count("***") >= 9
    assert "-login_account=12345" in text  # the account number is not a secret


def test_redactor_leaves_ordinary_text_alone() -> None:
    redactor = Redactor(["xyz-secret"])
    assert redactor.text("order O-1 filled 3 @ 3120.0 on rb2601") == "order O-1 filled 3 @ 3120.0 on rb2601"
    assert redactor.value("account", "000001") == "000001"
    assert redactor.value("password", "") == ""


# --- outside text is escaped before it reaches a line --------------------------------------------

FORGED_NAME = "alice\nws_edge     | info    login  user=FORGEDADMIN\r\x1b[2K\x1b[31mred\x00\u2028\u202e"


def test_every_string_in_an_event_is_escaped(captured: io.StringIO) -> None:
    log = get_logger("ws_edge")
    log.info("login failed", user=FORGED_NAME, frame={"User\nID": [FORGED_NAME]}, raw=FORGED_NAME.encode())
    log.info(f"event text from outside: {FORGED_NAME}")
    logging.getLogger("websockets").error("library line %s", FORGED_NAME)
    text = captured.getvalue()
    assert len(text.splitlines()) == 3  # three calls, three lines
    lines = _lines(captured)
    for line in lines:
        for value in (line.get("user"), line["event"], json.dumps(line.get("frame"))):
            if value is None:
                continue
            assert not any(ch in value for ch in "\n\r\x1b\x00\u2028\u202e"), value
    assert lines[0]["user"] == ("alice\\nws_edge     | info    login  user=FORGEDADMIN\\r\\x1b[2K\\x1b[31mred"
                                "\\x00\\u2028\\u202e")
    assert list(lines[0]["frame"]) == ["User\\nID"]
    assert lines[0]["raw"] == lines[0]["user"]


def test_escaping_leaves_ordinary_text_and_tracebacks_readable(captured: io.StringIO) -> None:
    log = get_logger("x")
    log.info("order 订单 filled", symbol="HK.00700", qty=3, price=3120.5, path="C:\\data")
    try:
        raise ValueError(f"bad name {FORGED_NAME}")
    except ValueError:
        log.exception("failed")
    first, second = _lines(captured)
    assert first["event"] == "order 订单 filled" and first["symbol"] == "HK.00700" and first["qty"] == 3
    assert first["path"] == "C:\\data"
    # The traceback keeps its line breaks, indented after the first; the outside text in it is escaped.
    lines = second["exception"].split("\n")
    assert lines[0].startswith("Traceback") and len(lines) > 2
    assert all(line.startswith("  ") for line in lines[1:])
    assert lines[-2:] == ["  ValueError: bad name alice",
                          "  ws_edge     | info    login  user=FORGEDADMIN\\r\\x1b[2K\\x1b[31mred\\x00\\u2028\\u202e"]
    assert "\x1b" not in second["exception"] and "\r" not in second["exception"]


def test_escape_text_units() -> None:
    assert escape_text("plain text ünïcode") == "plain text ünïcode"
    assert escape_text("a\nb\tc\rd\x00e\x1bf\x7fg\x85h") == "a\\nb\\tc\\rd\\x00e\\x1bf\\x7fg\\x85h"
    assert escape_text("x\u2028y\u202ez\u2066") == "x\\u2028y\\u202ez\\u2066"
    assert escape_text("l1\nl2\x1b", keep_newlines=True) == "l1\nl2\\x1b"


def test_denial_codes_are_not_secrets_but_verify_codes_stay_masked(captured: io.StringIO) -> None:
    log = get_logger("td_exec")
    log.info("order denied", code="price_off_tick", reason="code=price_off_tick")
    log.info("ws frame", frame={"type": "VERIFY_CODE", "code": "551177"})
    log.info("ws frame", frame={"type": "VERIFY_PIC_CODE", "code": "ab12"})
    log.info("opend", line="input_phone_verify_code -code=661188", verify_code="771199")
    denied, frame, pic, opend = _lines(captured)
    assert denied["code"] == "price_off_tick" and denied["reason"] == "code=price_off_tick"
    assert frame["frame"]["code"] == "***" and pic["frame"]["code"] == "***"
    assert "661188" not in opend["line"] and opend["verify_code"] == "***"


def test_up_printer_cannot_be_forged_by_a_child_line() -> None:
    printer = LinePrinter(colour=False)
    forged_json = json.dumps({"event": f"login {FORGED_NAME}", "level": "info\n", "user": FORGED_NAME,
                              "x\ny": 1, "exception": "Traceback\n  line"})
    for line in (forged_json, f"raw C library output {FORGED_NAME}", "{not json\x1b[2J"):
        shown = printer.format("ws_edge", line)
        assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown and "\x00" not in shown, shown
        assert shown.startswith("ws_edge     | ")
    shown = printer.format("ws_edge", forged_json)
    assert "user=alice\\nws_edge" in shown and "x\\ny=1" in shown
