"""Every login scenario of ``opend_sim``, driven through its console (stdin/stdout of the real process)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from opend_console_harness import OpenDLauncher as Launcher

from opend_sim.state_dir import device_file, device_trusted, pic_file
from opend_sim.state_dir import trust_device as trust

if TYPE_CHECKING:
    from opend_console_harness import OpenDLauncher

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(params=["stdin", "telnet"])
async def opend(tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Every scenario runs twice: operation commands on stdin, then over the telnet port (CRLF)."""
    launcher = Launcher(tmp_path, channel=request.param)
    try:
        yield launcher
    finally:
        await launcher.stop_all()


async def test_ok_with_trusted_device_logs_in_without_code(opend: OpenDLauncher, tmp_path: Path) -> None:
    trust(tmp_path / "state")
    proc = await opend.start("ok")
    await proc.expect("Futu OpenD version:")
    await proc.expect("Server startup")
    await proc.expect("Logging in")
    await proc.expect("Login successful")
    await proc.send("exit")
    assert await proc.wait_exit() == 0
    assert not any("verification code" in line for line in proc.lines)
    assert "Futu OpenD exited" in proc.lines


async def test_sms_manual_request_then_code(opend: OpenDLauncher, tmp_path: Path) -> None:
    trust(tmp_path / "state")  # the scenario demands a code even from a trusted device
    proc = await opend.start("sms")
    await proc.expect("Need a phone verification code")
    await proc.expect("Command tips: req_phone_verify_code")
    await proc.send("req_phone_verify_code")
    await proc.expect("SMS verification code requested successfully")
    await proc.expect("Command tips: input_phone_verify_code -code=")
    await proc.send("input_phone_verify_code -code=123456")
    await proc.expect("Verifying phone verification code")
    await proc.expect("Login successful")
    await proc.send("exit")
    assert await proc.wait_exit() == 0


async def test_req_phone_verify_code_is_limited_to_one_per_window(opend: OpenDLauncher) -> None:
    proc = await opend.start("sms")
    await proc.expect("Command tips: req_phone_verify_code")
    await proc.send("req_phone_verify_code")
    await proc.expect("requested successfully")
    await proc.expect("Command tips: input_phone_verify_code")
    await proc.send("req_phone_verify_code")
    line = await proc.read_line()
    assert "too frequent" in line
    # After the (scaled) 60 s window a request is accepted again.
    await proc.send("req_phone_verify_code")
    assert "too frequent" in await proc.read_line()
    for _ in range(40):
        await proc.send("req_phone_verify_code")
        if "requested successfully" in await proc.read_line():
            break
        await proc.lines_for(0.25)
    else:
        raise AssertionError(f"the request window never reopened: {proc.lines[-10:]}")


async def test_input_phone_code_is_limited_to_ten_per_window(opend: OpenDLauncher) -> None:
    # A slower clock (60 s -> 6 s) so that eleven attempts surely fall inside one window.
    proc = await opend.start("sms_wrong_silent", "--verify-code=999999", env={"OPEND_SIM_SPEED": "10"})
    await proc.expect("Command tips: req_phone_verify_code")
    answers = []
    for attempt in range(11):
        await proc.send(f"input_phone_verify_code -code=10000{attempt}")
        line = await proc.read_line()
        answers.append(line)
        if "Verifying" in line:
            await proc.expect("verify code error")
    assert all("Verifying" in line for line in answers[:10]), answers
    assert "too frequent" in answers[10]


async def test_sms_wrong_reprompt(opend: OpenDLauncher) -> None:
    proc = await opend.start("sms_wrong_reprompt")
    await proc.expect("Command tips: req_phone_verify_code")
    await proc.send("req_phone_verify_code")
    await proc.expect("Command tips: input_phone_verify_code")
    await proc.send("input_phone_verify_code -code=000000")
    await proc.expect("Verifying phone verification code")
    assert "verify code error" in await proc.read_line()
    assert "Command tips: input_phone_verify_code" in await proc.read_line()
    await proc.send("input_phone_verify_code -code=123456")
    await proc.expect("Login successful")


async def test_sms_wrong_silent_prints_only_the_error(opend: OpenDLauncher) -> None:
    proc = await opend.start("sms_wrong_silent")
    await proc.expect("Command tips: req_phone_verify_code")
    await proc.send("input_phone_verify_code -code=000000")
    await proc.expect("Verifying phone verification code")
    assert "verify code error" in await proc.read_line()
    # No re-prompt: the next console line is the answer to our next command.
    await proc.send("help -cmd=exit")
    assert (await proc.read_line()).startswith("exit ")
    # OpenD itself still takes a right code afterwards.
    await proc.send("input_phone_verify_code -code=123456")
    await proc.expect("Login successful")


async def test_sms_rate_limited_recovers_after_the_window(opend: OpenDLauncher) -> None:
    proc = await opend.start("sms_rate_limited")
    await proc.expect("Requesting phone verification code")
    await proc.expect("SMS requests are too frequent")
    await proc.expect("Command tips: req_phone_verify_code")
    await proc.send("req_phone_verify_code")
    assert "too frequent" in await proc.read_line()
    for _ in range(40):
        await proc.send("req_phone_verify_code")
        if "requested successfully" in await proc.read_line():
            break
        await proc.lines_for(0.25)
    else:
        raise AssertionError(f"SMS never became requestable: {proc.lines[-10:]}")
    await proc.send("input_phone_verify_code -code=123456")
    await proc.expect("Login successful")


async def test_pic_then_sms(opend: OpenDLauncher, tmp_path: Path) -> None:
    proc = await opend.start("pic_then_sms")
    await proc.expect("Graphic verification code required")
    downloaded = await proc.expect("Graphic verification code downloaded:")
    png = pic_file(tmp_path / "state")
    assert str(png) in downloaded
    first_png = png.read_bytes()
    assert first_png.startswith(PNG_MAGIC)
    await proc.expect("Command tips: input_pic_verify_code")
    await proc.send("input_phone_verify_code -code=123456")  # wrong phase
    assert await proc.read_line() == "Command not available during the current period"
    await proc.send("input_pic_verify_code -code=9999")
    await proc.expect("Graphic verification code error")
    await proc.expect("Graphic verification code downloaded:")
    assert png.read_bytes() != first_png  # OpenD downloads a new picture after a wrong code
    await proc.send("input_pic_verify_code -code=1234")
    await proc.expect("Need a phone verification code")
    await proc.send("req_phone_verify_code")
    await proc.expect("Command tips: input_phone_verify_code")
    await proc.send("input_phone_verify_code -code=123456")
    await proc.expect("Login successful")


async def test_fail_password_exits_non_zero(opend: OpenDLauncher, tmp_path: Path) -> None:
    proc = await opend.start("fail_password")
    await proc.expect("Login failed,incorrect password")
    await proc.expect("Login failed")
    assert await proc.wait_exit() == 1
    assert not device_file(tmp_path / "state").exists()


async def test_malformed_md5_is_a_wrong_password(opend: OpenDLauncher) -> None:
    proc = await opend.start("ok", "-login_pwd_md5=not-an-md5", password=None)
    await proc.expect("Login failed,incorrect password")
    assert await proc.wait_exit() == 1


async def test_missing_password_fails_login(opend: OpenDLauncher) -> None:
    proc = await opend.start("ok", password=None)
    await proc.expect("Login failed,login account or password is empty")
    assert await proc.wait_exit() == 1


async def test_fail_network_in_chinese(opend: OpenDLauncher) -> None:
    proc = await opend.start("fail_network", lang="chs")
    await proc.expect("服务器启动")
    await proc.expect("正在登录")
    await proc.expect("登录失败,网络异常，请稍后再试")
    await proc.expect("登录失败")
    await proc.expect("Futu OpenD已退出")
    assert await proc.wait_exit() == 1


async def test_crash_after_ok(opend: OpenDLauncher, tmp_path: Path) -> None:
    trust(tmp_path / "state")
    proc = await opend.start("crash_after_ok")
    await proc.expect("Login successful")
    assert await proc.wait_exit() == 3
    assert "Futu OpenD exited" not in proc.lines  # a crash says goodbye to nobody


async def test_force_logout_asks_for_a_code_again(opend: OpenDLauncher, tmp_path: Path) -> None:
    trust(tmp_path / "state")
    proc = await opend.start("force_logout")
    await proc.expect("Login successful")
    await proc.expect("Force logout")
    await proc.expect("Need a phone verification code")
    await proc.expect("Command tips: req_phone_verify_code")
    await proc.send("req_phone_verify_code")
    await proc.expect("Command tips: input_phone_verify_code")
    await proc.send("input_phone_verify_code -code=123456")
    await proc.expect("Login successful")
    await proc.send("exit")
    assert await proc.wait_exit() == 0


async def test_hang_never_ends_the_login(opend: OpenDLauncher) -> None:
    proc = await opend.start("hang")
    await proc.expect("Logging in")
    # 1 s at test speed is 20 s of OpenD time; a real login would have ended long before.
    later = await proc.lines_for(1.0)
    assert not any("Login" in line for line in later), later
    await proc.send("show_sub_info")
    assert await proc.read_line() == "Logging in"
    await proc.send("exit")
    assert await proc.wait_exit() == 0


async def test_exit_immediately(opend: OpenDLauncher) -> None:
    proc = await opend.start("exit_immediately")
    assert await proc.wait_exit() == 1
    assert "Server startup" not in proc.lines
    assert "The program's own data does not exist" in proc.lines


async def test_disclaimer_exits_after_login(opend: OpenDLauncher, tmp_path: Path) -> None:
    trust(tmp_path / "state")
    proc = await opend.start("disclaimer", lang="chs")
    await proc.expect("登录成功")
    await proc.expect("未同意免责声明")
    assert await proc.wait_exit() == 1


async def test_sms_auto_in_chinese(opend: OpenDLauncher) -> None:
    proc = await opend.start("sms_auto", lang="chs")
    await proc.expect("Futu OpenD版本信息:")
    await proc.expect("登录方式: 账号密码登录")
    await proc.expect("正在请求手机验证码")
    await proc.expect("请求手机验证码成功")
    await proc.expect("命令提示: input_phone_verify_code -code=123456")
    await proc.send("input_phone_verify_code -code=654321")
    await proc.expect("正在验证手机验证码")
    await proc.expect("验证码错误")
    await proc.send("input_phone_verify_code -code=123456")
    await proc.expect("登录成功")
    await proc.send("exit")
    assert await proc.wait_exit() == 0
    assert "Futu OpenD已退出" in proc.lines


async def test_relogin_after_login(opend: OpenDLauncher, tmp_path: Path) -> None:
    trust(tmp_path / "state")
    proc = await opend.start("ok")
    await proc.expect("Login successful")
    await proc.send("relogin")
    await proc.expect("Logging in")
    await proc.expect("Login successful")
    await proc.send("relogin -login_pwd_md5=zzz")  # a new password that cannot be an MD5
    await proc.expect("Login failed,incorrect password")
    assert await proc.wait_exit() == 1
    assert device_trusted(tmp_path / "state")


async def test_relogin_is_limited_to_ten_per_hour(opend: OpenDLauncher, tmp_path: Path) -> None:
    trust(tmp_path / "state")
    proc = await opend.start("ok", "-log_level=no")
    await proc.expect("Login successful")
    for _ in range(10):
        await proc.send("relogin")
        await proc.expect("Logging in")
        await proc.expect("Login successful")
    await proc.send("relogin")
    assert await proc.read_line() == "Operation too frequent, please try again later"
    await proc.send("exit")
    assert await proc.wait_exit() == 0
    assert not (tmp_path / "state" / "Log").exists()  # -log_level=no writes no GTW log
