"""Small pieces of the console: rate windows, line splitting, padding, string tables, scenarios."""

from __future__ import annotations

import pytest

from opend_sim.commands import COMMANDS, parse_command
from opend_sim.console import CONSOLE_WIDTH, Console, display_width, pad
from opend_sim.ratelimit import SlidingWindow
from opend_sim.scenarios import SCENARIOS, scenario
from opend_sim.stdin_reader import LineSplitter
from opend_sim.telnet import split_crlf
from opend_sim.texts import Lang, T, text

REQUIRED_SCENARIOS = (
    "ok", "sms", "sms_wrong_reprompt", "sms_wrong_silent", "sms_rate_limited", "pic_then_sms", "fail_password",
    "fail_network", "crash_after_ok", "force_logout", "hang", "exit_immediately",
)  # fmt: skip


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window() -> None:
    clock = FakeClock()
    window = SlidingWindow(2, 60.0, clock)
    assert window.try_acquire() and window.try_acquire()
    assert not window.try_acquire()  # a refused call does not extend the window
    clock.now += 30
    assert not window.try_acquire()
    assert window.retry_after() == pytest.approx(30.0)
    clock.now += 30  # both calls were at the same instant, so both slots free up together
    assert window.try_acquire() and window.try_acquire()
    assert not window.try_acquire()


def test_line_splitter_handles_cr_lf_and_chunk_edges() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"help\r") == [b"help"]  # a pty sends a lone CR
    assert splitter.feed(b"\nexit\n") == [b"exit"]  # the LF of a split CRLF is not an empty line
    assert splitter.feed(b"a\r\nb") == [b"a"]
    assert splitter.feed(b"c\n") == [b"bc"]


def test_split_crlf_drops_bare_lf_lines() -> None:
    buffer = bytearray(b"one\r\ntwo\nthree\r\nfour")
    assert split_crlf(buffer) == [b"one", b"three"]
    assert bytes(buffer) == b"four"


def test_padding_counts_wide_characters_twice() -> None:
    assert display_width("登录成功") == 8
    assert display_width(pad("登录成功")) == CONSOLE_WIDTH
    assert pad("x" * 100) == "x" * 100


def test_console_shape() -> None:
    import io

    out = io.BytesIO()
    seen: list[str] = []
    console = Console(out)
    console.add_sink(seen.append)
    console.print("Login successful")
    console.print("登录成功")
    console.close()
    raw = out.getvalue().decode()
    assert raw.startswith("\rLogin successful ")
    assert "\n\r>>>\r登录成功" in raw
    assert raw.endswith("\r>>>\n")
    assert seen == ["Login successful", "登录成功"]


def test_every_required_scenario_exists() -> None:
    for name in REQUIRED_SCENARIOS:
        assert scenario(name).name == name
    with pytest.raises(KeyError):
        scenario("nope")
    assert set(REQUIRED_SCENARIOS) <= set(SCENARIOS)


def test_documented_literal_strings() -> None:
    assert text(Lang.EN, T.LOGIN_OK) == "Login successful"
    assert text(Lang.CHS, T.LOGIN_OK) == "登录成功"
    assert text(Lang.EN, T.TIPS_REQ_PHONE) == "Command tips: req_phone_verify_code"
    assert text(Lang.CHS, T.TIPS_INPUT_PHONE) == "命令提示: input_phone_verify_code -code=123456"
    assert text(Lang.CHS, T.FAIL_NETWORK) == "登录失败,网络异常，请稍后再试"
    assert text(Lang.CHS, T.PHONE_TOO_FREQUENT) == "请求手机验证码失败,短信请求过于频繁，请稍后再试"
    assert text(Lang.CHS, T.API_LISTEN, addr="127.0.0.1:11111") == "API监听地址: 127.0.0.1:11111"


def test_command_parsing() -> None:
    parsed = parse_command("input_phone_verify_code   -code=123456 junk")
    assert parsed is not None
    assert (parsed.name, parsed.params, parsed.bad_tokens) == ("input_phone_verify_code", {"code": "123456"}, ("junk",))
    assert parse_command("   ") is None
    assert COMMANDS["req_phone_verify_code"].limit == (1, 60.0)
    assert COMMANDS["relogin"].limit == (10, 3600.0)
