"""Device trust across runs (F3CNN/Device.dat), secrets never echoed, signals, stdin EOF."""

from __future__ import annotations

import hashlib
import signal
from typing import TYPE_CHECKING

from opend_sim.state_dir import device_file

if TYPE_CHECKING:
    from pathlib import Path

    from opend_console_harness import OpenDLauncher, OpenDProcess


async def _login_with_code(proc: OpenDProcess, code: str = "123456") -> None:
    await proc.expect("Command tips: input_phone_verify_code")
    await proc.send(f"input_phone_verify_code -code={code}")
    await proc.expect("Login successful")
    await proc.send("exit")
    assert await proc.wait_exit() == 0


async def test_first_run_needs_code_later_runs_do_not(opend: OpenDLauncher, tmp_path: Path) -> None:
    state = tmp_path / "state"
    device = device_file(state)
    assert not device.exists()

    first = await opend.start("ok", state_dir=state)
    await first.expect("Requesting phone verification code")
    await _login_with_code(first)
    assert device.exists()
    device_id = device.read_bytes()

    second = await opend.start("ok", state_dir=state)
    await second.expect("Logging in")
    line = await second.read_line()
    assert line == "Login successful", second.lines
    await second.send("exit")
    assert await second.wait_exit() == 0
    assert device.read_bytes() == device_id  # the same device, not a new one

    device.unlink()
    third = await opend.start("ok", state_dir=state)
    await third.expect("Requesting phone verification code")
    await _login_with_code(third)
    assert device.read_bytes() != device_id


async def test_corrupted_device_file_means_a_new_device(opend: OpenDLauncher, tmp_path: Path) -> None:
    state = tmp_path / "state"
    device_file(state).parent.mkdir(parents=True)
    device_file(state).write_bytes(b"\x00garbage")
    proc = await opend.start("ok", state_dir=state)
    await proc.expect("Requesting phone verification code")
    await _login_with_code(proc)


async def test_secrets_are_never_printed(opend: OpenDLauncher, tmp_path: Path) -> None:
    password = "Hunter2-Very-Secret"
    code = "864209"
    proc = await opend.start("sms", f"--verify-code={code}", password=password)
    telnet = await proc.telnet()
    try:
        await proc.expect("Command tips: req_phone_verify_code")
        await telnet.send(f"input_phone_verify_code -code={code}")
        await telnet.expect("Login successful")
        await telnet.send("exit")
        assert await proc.wait_exit() == 0
    finally:
        await telnet.close()
    md5 = hashlib.md5(password.encode()).hexdigest()
    logs = b"".join(p.read_bytes() for p in (tmp_path / "state" / "Log").iterdir())
    for where in (bytes(proc.raw), bytes(proc.stderr), "\n".join(telnet.lines).encode(), logs):
        for secret in (password, md5, code):
            assert secret.encode() not in where


async def test_sigterm_exits_cleanly(opend: OpenDLauncher) -> None:
    proc = await opend.start("hang")
    await proc.expect("Logging in")
    proc.proc.send_signal(signal.SIGTERM)
    assert await proc.wait_exit() == 0
    assert proc.lines[-1] == "Futu OpenD exited"


async def test_closed_stdin_does_not_stop_opend(opend: OpenDLauncher, tmp_path: Path) -> None:
    from opend_sim.state_dir import trust_device

    trust_device(tmp_path / "state")
    proc = await opend.start("ok")
    assert proc.proc.stdin is not None
    proc.proc.stdin.close()  # like `nohup ./FutuOpenD < /dev/null &`
    await proc.expect("Login successful")
    telnet = await proc.telnet()
    try:
        await telnet.send("exit")
        assert await proc.wait_exit() == 0
    finally:
        await telnet.close()
