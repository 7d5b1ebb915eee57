"""Console parsing, markers, the state machine and the settings, without processes."""

from __future__ import annotations

import hashlib

import pytest

from auth_broker.console_lines import LineAssembler, clean
from auth_broker.machine import AuthMachine, Broadcast, Changed, Credentials, KillChild, RequestSms, Write
from auth_broker.markers import Kind, classify, classify_prompt
from auth_broker.settings import ostai_bool, ostai_int, ostai_retry_base, resolve
from tradebus.config import Config, ConfigError, load_config
from tradebus.schemas.auth import AuthState

# --- console lines ---------------------------------------------------------------------------------


def test_opend_console_shape_is_cleaned() -> None:
    raw = "\r>>>\rLogin successful" + " " * 64 + "\n\r>>>"
    assert LineAssembler().feed(raw.encode()) == ["Login successful"]


def test_marker_split_across_chunks_and_utf8_split_inside_a_character() -> None:
    data = "\r登录成功".ljust(80).encode() + b"\n"
    assembler = LineAssembler()
    out = []
    for i in range(len(data)):  # one byte at a time: splits every multi-byte character
        out += assembler.feed(data[i:i + 1])
    assert out == ["登录成功"]


def test_long_chunk_after_a_marker_is_not_lost() -> None:
    """ostai's 200-char window missed a marker followed by 300+ bytes in one write.

    See docs/auth_broker.md, 'ostai's own behaviour'."""
    chunk = ("req_phone_verify_code [from mock-futuopend]\n" + "x" * 5000 + "\n").encode()
    lines = LineAssembler().feed(chunk)
    assert classify(lines[0]).kind is Kind.PHONE_NEEDED  # type: ignore[union-attr]


def test_ansi_codes_and_prompts_are_stripped() -> None:
    assert clean("\x1b[32m>>>>>>Need a phone verification code\x1b[0m   ") == "Need a phone verification code"


def test_partial_line_is_capped() -> None:
    assembler = LineAssembler()
    assembler.feed(b"y" * 200_000)
    assert len(assembler.partial) <= 64 * 1024


def test_prompt_without_newline_is_seen_in_the_partial_line() -> None:
    assembler = LineAssembler()
    assert assembler.feed("请输入账号:".encode()) == []
    assert classify_prompt(assembler.partial).kind is Kind.PROMPT_ACCOUNT  # type: ignore[union-attr]


# --- markers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "kind"), [
    ("Need a phone verification code", Kind.PHONE_NEEDED),
    ("Command tips: req_phone_verify_code", Kind.PHONE_REQUEST_NEEDED),
    ("命令提示: req_phone_verify_code", Kind.PHONE_REQUEST_NEEDED),
    ("Command tips: input_phone_verify_code -code=123456", Kind.PHONE_SENT),
    ("请求手机验证码成功", Kind.PHONE_SENT),
    ("需要手机验证码", Kind.PHONE_NEEDED),
    ("请求手机验证码失败,短信请求过于频繁，请稍后再试", Kind.PHONE_RATE_LIMITED),
    ("Phone verify code error, please enter it again", Kind.PHONE_WRONG),
    ("手机验证码错误，请重新输入", Kind.PHONE_WRONG),
    ("图形验证码错误", Kind.PIC_WRONG),
    ("需要图形验证码", Kind.PIC_NEEDED),
    ("Command tips: input_pic_verify_code -code=1234", Kind.PIC_TIP),
    ("Login successful", Kind.LOGIN_OK),
    ("登录成功", Kind.LOGIN_OK),
    ("Login failed,incorrect password", Kind.FAIL_PASSWORD),
    ("登录失败,密码不匹配", Kind.FAIL_PASSWORD),
    ("登录失败,网络异常，请稍后再试", Kind.FAIL_NETWORK),
    ("Login failed,The account may be a moomoo ID. Before logging in, please re-download", Kind.FAIL_ACCOUNT),
    ("未同意免責聲明", Kind.FAIL_DISCLAIMER),
    ("Login failed", Kind.FAIL_OTHER),
    ("Force logout, the login status has expired, please log in again", Kind.FORCE_LOGOUT),
    ("Please enter account:", Kind.PROMPT_ACCOUNT),
    ("请输入密码", Kind.PROMPT_PASSWORD),
    ("请选择是否记住密码(Y/N)", Kind.PROMPT_REMEMBER),
])
def test_marker_table(line: str, kind: Kind) -> None:
    marker = classify(line)
    assert marker is not None and marker.kind is kind


@pytest.mark.parametrize("line", ["Logging in", "Verifying phone verification code", "登录方式: 账号密码登录",
                                  "Futu OpenD exited", "API listening address: 127.0.0.1:11111",
                                  "Verifying graphic verification code", "network card eth0 up"])
def test_ordinary_lines_mean_nothing(line: str) -> None:
    assert classify(line) is None


def test_picture_path_is_taken_from_the_line() -> None:
    marker = classify("Graphic verification code downloaded: /s/F3CNN/PicVerifyCode.png")
    assert marker is not None and marker.path == "/s/F3CNN/PicVerifyCode.png"


# --- the machine -----------------------------------------------------------------------------------


def running(**kwargs: object) -> AuthMachine:
    machine = AuthMachine(Credentials("acct", "pw"), **kwargs)  # type: ignore[arg-type]
    machine.on_spawned()
    return machine


def feed(machine: AuthMachine, line: str) -> list[object]:
    marker = classify(line)
    assert marker is not None, line
    return list(machine.on_marker(marker))


def test_request_code_is_broadcast_once_per_demand() -> None:
    machine = running()
    first = feed(machine, "Need a phone verification code")
    again = feed(machine, "Command tips: req_phone_verify_code")
    assert Broadcast({"type": "REQUEST_CODE"}) in first
    assert not any(isinstance(e, Broadcast) for e in again) and RequestSms() in again


def test_code_while_connected_is_not_buffered_and_restart_asks_again() -> None:
    machine = running()
    feed(machine, "Login successful")
    _, problem = machine.on_verify_code("123456")
    assert "already connected" in problem and machine.buffered_code is None
    machine.on_exit(crash_loop=False, exit_desc="exit code 3")
    machine.on_spawned()
    assert Broadcast({"type": "REQUEST_CODE"}) in feed(machine, "Need a phone verification code")


def test_buffered_code_dies_with_the_child() -> None:
    machine = running()
    machine.on_verify_code("123456")
    machine.on_exit(crash_loop=False, exit_desc="exit code 1")
    machine.on_spawned()
    assert Broadcast({"type": "REQUEST_CODE"}) in feed(machine, "Need a phone verification code")


def test_wrong_code_rearms_and_a_queued_code_answers() -> None:
    machine = running()
    feed(machine, "Need a phone verification code")
    machine.on_verify_code("111111")
    effects, _ = machine.on_verify_code("222222")
    assert effects == [] and machine.queued_code == "222222"
    out = feed(machine, "Phone verify code error, please enter it again")
    assert Write("input_phone_verify_code -code=222222", secret=True) in out
    assert machine.state is AuthState.VERIFYING_CODE


def test_verify_timeout_asks_again() -> None:
    machine = running()
    feed(machine, "Need a phone verification code")
    machine.on_verify_code("111111")
    assert Broadcast({"type": "REQUEST_CODE"}) in machine.on_verify_timeout()


def test_fatal_and_retryable_exits() -> None:
    machine = running()
    feed(machine, "Login failed,incorrect password")
    feed(machine, "Login failed")  # the generic line does not hide the specific reason
    effects, verdict = machine.on_exit(crash_loop=False, exit_desc="exit code 1")
    assert verdict.fatal and machine.state is AuthState.FAILED and Broadcast({"type": "CLOSED"}) in effects
    machine = running()
    feed(machine, "登录失败,网络异常，请稍后再试")
    _, verdict = machine.on_exit(crash_loop=False, exit_desc="exit code 1")
    assert not verdict.fatal and machine.state is AuthState.CLOSED
    assert machine.ws_status == -2


def test_interactive_login_prompts_are_answered_and_a_repeat_password_is_fatal() -> None:
    machine = running()
    assert feed(machine, "请输入账号") == [Write("acct", secret=True, prompt_answer=True)]
    assert feed(machine, "请输入密码") == [Write("pw", secret=True, prompt_answer=True)]
    assert feed(machine, "请选择是否记住密码") == [Write("Y", prompt_answer=True)]
    assert isinstance(feed(machine, "请输入密码")[0], KillChild)
    _, verdict = machine.on_exit(crash_loop=False, exit_desc="signal SIGTERM")
    assert verdict.fatal and "password" in verdict.reason


def test_interactive_password_without_plaintext_stops() -> None:
    machine = AuthMachine(Credentials("acct", ""))
    machine.on_spawned()
    assert isinstance(feed(machine, "Please enter password")[0], KillChild)


def test_state_changes_are_reported_in_order() -> None:
    machine = AuthMachine(Credentials("a", ""))
    changes = [e for e in machine.on_spawned() if isinstance(e, Changed)]
    changes += [e for e in feed(machine, "Login successful") if isinstance(e, Changed)]
    assert [(c.previous, c.state) for c in changes] == [(AuthState.ORIGIN, AuthState.INITIALIZING),
                                                        (AuthState.INITIALIZING, AuthState.CONNECTED)]


# --- settings --------------------------------------------------------------------------------------


def test_ostai_env_truthiness_and_integers() -> None:
    assert [ostai_bool(v) for v in ("yes", "Y", "1", "true", "TRUE", "no", "on", "", "0")] == \
        [True, True, True, True, True, False, False, False, False]
    assert ostai_int("SERVER_PORT", "8000abc") == 8000
    with pytest.raises(ConfigError):
        ostai_int("SERVER_PORT", "abc")


def test_ostai_env_builds_the_opend_command_line() -> None:
    env = {"FUTU_LOGIN_ACCOUNT": "100", "FUTU_LOGIN_PWD_MD5": "A" * 32, "FUTU_LANG": "chs", "FUTU_PORT": "11112",
           "SERVER_PORT": "8081", "FUTU_INIT_ON_START": "no", "FUTU_IP": "0.0.0.0", "FUTU_CMD": "/opt/FutuOpenD"}
    _, settings = resolve(Config(), env)
    assert settings.opend_argv() == ["/opt/FutuOpenD", "-login_account=100", f"-login_pwd_md5={'a' * 32}",
                                     "-lang=chs", "-log_level=no", "-api_ip=0.0.0.0", "-websocket_ip=0.0.0.0",
                                     "-api_port=11112"]
    assert settings.auth.ws_port == 8081 and not settings.auth.init_on_start
    assert "a" * 32 not in " ".join(settings.printable_argv())


def test_plaintext_password_goes_on_the_command_line_only_as_md5() -> None:
    _, settings = resolve(Config(), {"FUTU_LOGIN_ACCOUNT": "100", "FUTU_LOGIN_PWD": "pw"})
    argv = settings.opend_argv()
    assert f"-login_pwd_md5={hashlib.md5(b'pw').hexdigest()}" in argv
    assert not any(a.split("=", 1)[-1] == "pw" for a in argv)  # the plaintext stays for the interactive prompt
    assert settings.credentials.pwd.reveal() == "pw"


def test_empty_account_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="login_account"):
        resolve(Config(), {"FUTU_LOGIN_ACCOUNT": ""})


def test_tradebus_env_sets_auth_keys() -> None:
    config = load_config(None, {"TRADEBUS_AUTH_OPEND_CMD": "python -m opend_sim", "TRADEBUS_AUTH_TELNET_PORT": "22222",
                                "TRADEBUS_FUTU_LOGIN_ACCOUNT": "1", "TRADEBUS_AUTH_STATE_DIR_FLAG": "--state-dir",
                                "TRADEBUS_AUTH_STATE_DIR": "/tmp/x"})
    _, settings = resolve(config, {})
    assert settings.opend_argv()[:3] == ["python", "-m", "opend_sim"]
    assert "-telnet_port=22222" in settings.opend_argv() and "--state-dir=/tmp/x" in settings.opend_argv()


def test_md5_that_is_not_hex_is_passed_as_given_like_ostai() -> None:
    _, settings = resolve(Config(), {"FUTU_LOGIN_ACCOUNT": "test", "FUTU_LOGIN_PWD_MD5": "test"})
    assert "-login_pwd_md5=test" in settings.opend_argv() and not settings.credentials.md5_is_hex
    _, hexed = resolve(Config(), {"FUTU_LOGIN_ACCOUNT": "1", "FUTU_LOGIN_PWD_MD5": "AB" * 16})
    assert hexed.credentials.md5_is_hex and f"-login_pwd_md5={'ab' * 16}" in hexed.opend_argv()


def test_futu_retry_from_the_environment_is_ostais_first_counter_value() -> None:
    assert [ostai_retry_base(env) for env in ({}, {"FUTU_RETRY": "2"}, {"FUTU_RETRY": "3x"}, {"FUTU_RETRY": "x"})] \
        == [0, 2, 3, 0]


def test_a_failed_spawn_reads_as_closed_to_ostai_clients() -> None:
    machine = AuthMachine(Credentials("1", ""))
    machine.on_verify_code("12345")  # kept for the OpenD that never started: dropped with it
    effects = machine.on_not_started("opend could not be started: Permission denied")
    assert Broadcast({"type": "CLOSED"}) in effects and machine.state is AuthState.FAILED
    assert machine.ws_status == -2 and machine.buffered_code is None
