from __future__ import annotations

import io
import json
import logging

import pytest

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
