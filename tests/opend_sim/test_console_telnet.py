"""Operation commands over OpenD's telnet port (CRLF lines, replies to the sender, console mirrored)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from opend_sim.state_dir import trust_device

if TYPE_CHECKING:
    from pathlib import Path

    from opend_console_harness import OpenDLauncher


async def test_sms_code_over_telnet(opend: OpenDLauncher) -> None:
    proc = await opend.start("sms")
    telnet = await proc.telnet()
    try:
        await proc.expect("Command tips: req_phone_verify_code")
        await telnet.send("req_phone_verify_code")
        assert await telnet.expect("requested successfully")
        await telnet.send("req_phone_verify_code")
        await telnet.expect("too frequent")
        await telnet.send("input_phone_verify_code -code=123456")
        # The login result is console output; telnet sessions get a copy of it.
        await proc.expect("Login successful")
        await telnet.expect("Login successful")
        # Replies to a telnet command go to the telnet client, not the console.
        assert not any("requested successfully" in line for line in proc.lines)
        await telnet.send("exit")
        assert await proc.wait_exit() == 0
    finally:
        await telnet.close()


async def test_bare_lf_is_dropped(opend: OpenDLauncher) -> None:
    proc = await opend.start("sms")
    telnet = await proc.telnet()
    try:
        await proc.expect("Command tips: req_phone_verify_code")
        await telnet.expect("Command tips: req_phone_verify_code")
        await telnet.send_raw(b"req_phone_verify_code\n")  # no CR: OpenD ignores it
        await telnet.send("help -cmd=ping")
        assert (await telnet.read_line()).startswith("ping ")
        # The LF line never ran, so the 1-per-minute request is still available.
        await telnet.send("req_phone_verify_code")
        assert "requested successfully" in await telnet.read_line()
    finally:
        await telnet.close()


async def test_command_split_across_packets(opend: OpenDLauncher, tmp_path: Path) -> None:
    trust_device(tmp_path / "state")
    proc = await opend.start("sms")
    telnet = await proc.telnet()
    try:
        await telnet.expect("Command tips: req_phone_verify_code")
        await telnet.send_raw(b"input_phone_verify_")
        await telnet.send_raw(b"code -code=123456\r")
        await telnet.send_raw(b"\n")
        await telnet.expect("Login successful")
    finally:
        await telnet.close()


async def test_help_unknown_and_wrong_phase_over_telnet(opend: OpenDLauncher, tmp_path: Path) -> None:
    trust_device(tmp_path / "state")
    proc = await opend.start("ok")
    telnet = await proc.telnet()
    try:
        await telnet.expect("Login successful")
        await telnet.send("help")
        assert await telnet.read_line() == "Command list:"
        names = [(await telnet.read_line()).split()[0] for _ in range(13)]
        assert "input_phone_verify_code" in names
        assert all(name == name.lower() for name in names)
        await telnet.send("Exit")  # command names are case-sensitive
        assert await telnet.read_line() == "Unknown command"
        await telnet.send("input_phone_verify_code -code=123456")
        assert await telnet.read_line() == "Command not available during the current period"
        await telnet.send("ping")
        assert (await telnet.read_line()).startswith("Ping: ")
        assert proc.proc.returncode is None
    finally:
        await telnet.close()


async def test_two_telnet_clients_and_chinese_encoding(opend: OpenDLauncher) -> None:
    proc = await opend.start("sms", lang="chs")
    first = await proc.telnet(encoding="gb18030")
    second = await proc.telnet(encoding="gb18030")
    try:
        await first.expect("命令提示: req_phone_verify_code")
        await second.expect("命令提示: req_phone_verify_code")
        await first.send("req_phone_verify_code")
        assert await first.read_line() == "请求手机验证码成功"
        await second.send("req_phone_verify_code")
        assert "过于频繁" in await second.read_line()
        await second.send("input_phone_verify_code -code=123456")
        await first.expect("登录成功")
        await second.expect("登录成功")
    finally:
        await first.close()
        await second.close()


async def test_telnet_client_leaving_does_not_hurt_opend(opend: OpenDLauncher, tmp_path: Path) -> None:
    trust_device(tmp_path / "state")
    proc = await opend.start("ok")
    telnet = await proc.telnet()
    await telnet.send_raw(b"help")  # half a command, then gone
    await telnet.close()
    await proc.expect("Login successful")
    await proc.send("show_sub_info")
    assert await proc.read_line() == "No subscription"
    await proc.send("exit")
    assert await asyncio.wait_for(proc.wait_exit(), 10) == 0
