"""OpenD's command line (-key=value), the XML config, and our own --options."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from opend_sim import options
from opend_sim.options import UsageError, parse
from opend_sim.state_dir import trust_device
from opend_sim.texts import Lang

if TYPE_CHECKING:
    from opend_console_harness import OpenDLauncher

XML = """<?xml version="1.0" encoding="UTF-8"?>
<FutuOpenD>
  <ip>127.0.0.1</ip>
  <api_port>0</api_port>
  <login_account>99887766</login_account>
  <login_pwd>from-xml</login_pwd>
  <lang>chs</lang>
  <log_level>info</log_level>
  <telnet_ip>127.0.0.1</telnet_ip>
  <telnet_port>0</telnet_port>
  <push_proto_type>0</push_proto_type>
</FutuOpenD>
"""


def test_defaults() -> None:
    opts = parse(["-login_account=1", "-login_pwd=x"], env={})
    assert (opts.api_ip, opts.api_port, opts.telnet_ip, opts.telnet_port) == ("127.0.0.1", 11111, "127.0.0.1", 22222)
    assert opts.scenario == "ok"
    assert opts.state_dir == Path.home() / ".com.futunn.FutuOpenD"
    assert (opts.verify_code, opts.trade_pwd, opts.tick_interval, opts.speed) == ("123456", "123456", 0.5, 1.0)
    assert opts.pwd_md5 == hashlib.md5(b"x").hexdigest()


def test_md5_wins_over_plain_password_and_env_defaults_apply() -> None:
    md5 = "0123456789abcdef0123456789ABCDEF"
    env = {"OPEND_SIM_SCENARIO": "sms", "OPEND_SIM_VERIFY_CODE": "777777", "OPEND_SIM_SPEED": "4"}
    opts = parse([f"-login_pwd_md5={md5}", "-login_pwd=plain", "--scenario=hang"], env=env)
    assert opts.pwd_md5 == md5.lower()
    assert opts.scenario == "hang"  # the option beats the environment
    assert (opts.verify_code, opts.speed) == ("777777", 4.0)
    assert "plain" not in repr(opts) and md5.lower() not in repr(opts)


def test_bare_flags_and_recorded_args() -> None:
    opts = parse(["-console", "-no_monitor", "-login_region=sh", "--seed", "11"], env={})
    assert opts.opend_args == {"console": "1", "no_monitor": "1", "login_region": "sh"}
    assert opts.seed == 11


@pytest.mark.parametrize(
    "argv",
    [["-bogus=1"], ["--bogus=1"], ["-lang=de"], ["-api_port=70000"], ["-log_level=loud"], ["stray"], ["--seed"]],
)
def test_refused(argv: list[str]) -> None:
    with pytest.raises(UsageError):
        parse(argv, env={})


def test_cfg_file_and_command_line_wins(tmp_path: Path) -> None:
    cfg = tmp_path / "FutuOpenD.xml"
    cfg.write_text(XML)
    opts = parse([f"-cfg_file={cfg}", "-lang=en", "-api_port=12345"], env={})
    assert opts.login_account == "99887766"
    assert opts.pwd_md5 == hashlib.md5(b"from-xml").hexdigest()
    assert (opts.lang, opts.api_port, opts.telnet_port) == (Lang.EN, 12345, 0)


def test_missing_cfg_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="configuration file"):
        parse([f"-cfg_file={tmp_path / 'absent.xml'}"], env={})


async def _run(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "opend_sim", *argv,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 10)
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, 9)
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_unknown_parameter_exits_1_with_a_clear_error() -> None:
    code, out, err = await _run("-login_acount=1")
    assert code == 1
    assert "Unknown parameter: -login_acount" in err
    assert out == ""


async def test_unknown_scenario_exits_1() -> None:
    code, _, err = await _run("--scenario=nope")
    assert code == 1
    assert "unknown scenario 'nope'" in err


async def test_help_lists_parameters() -> None:
    code, out, _ = await _run("-help")
    assert code == 0
    for key in ("-login_account", "-login_pwd_md5", "-api_port", "-telnet_port", "-cfg_file", "--scenario"):
        assert key in out.split()


async def test_process_reads_cfg_file(opend: OpenDLauncher, tmp_path: Path) -> None:
    cfg = tmp_path / "FutuOpenD.xml"
    cfg.write_text(XML)
    trust_device(tmp_path / "state")
    # No account or password on the command line: both come from the XML.
    proc = await opend.start("ok", f"-cfg_file={cfg}", account=None, password=None, lang="chs")
    await proc.expect("登录成功")
    await proc.send("exit")
    assert await proc.wait_exit() == 0


def test_help_lines_cover_every_key() -> None:
    assert len(options.help_lines()) == len(options.OPEND_KEYS) + len(options.SIM_OPTIONS)
