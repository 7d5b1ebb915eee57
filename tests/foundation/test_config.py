from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tradebus.config import ConfigError, Secret, load_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tradebus.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_config_without_file_gives_defaults() -> None:
    config = load_config(None, env={})
    assert config.nats.url == "nats://127.0.0.1:4222"
    assert config.up.nats_port == 4222 and config.up.monitor_port == 8222


def test_file_values_and_env_overrides_apply_with_env_winning(tmp_path: Path) -> None:
    path = _write(tmp_path, '[futu]\nhost = "10.0.0.5"\nport = 11112\n[log]\nlevel = "debug"\n')
    config = load_config(path, env={"TRADEBUS_FUTU_PORT": "11113", "TRADEBUS_HEALTH_MD_INGEST": "9301",
                                    "TRADEBUS_UP_SIMULATORS": "false"})
    assert config.futu.host == "10.0.0.5"
    assert config.futu.port == 11113
    assert config.health.md_ingest == 9301
    assert config.up.simulators is False
    assert config.log.level == "debug"


def test_secrets_come_from_env_or_files_and_never_print(tmp_path: Path) -> None:
    secret_file = tmp_path / "ctp_password"
    secret_file.write_text("s3cr3t-from-file\n", encoding="utf-8")
    path = _write(tmp_path, f'[ctp]\npassword_file = "{secret_file}"\n')
    config = load_config(path, env={"TRADEBUS_FUTU_LOGIN_PWD_MD5": "e10adc3949ba59abbe56e057f20f883e"})
    assert config.ctp.password.reveal() == "s3cr3t-from-file"
    assert config.futu.login_pwd_md5.reveal() == "e10adc3949ba59abbe56e057f20f883e"
    assert "s3cr3t" not in repr(config) and "e10adc" not in str(config)
    assert set(config.secrets()) == {"s3cr3t-from-file", "e10adc3949ba59abbe56e057f20f883e"}
    assert Secret("a") == Secret("a")


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ('[nats]\nconnect_timeout_s = "soon"\n', {}, "nats.connect_timeout_s: Expected `float`, got `str`"),
        ("[nats]\nurll = 'x'\n", {}, "nats.urll: unknown key"),
        ("[natz]\nurl = 'x'\n", {}, "natz: unknown configuration section"),
        ("", {"TRADEBUS_NATS_URLL": "x"}, "TRADEBUS_NATS_URLL: unknown key nats.urll"),
        ("", {"TRADEBUS_UP_NATS_PORT": "many"}, "up.nats_port: Expected `int`, got `str`"),
        ("[up]\nnats_port = 70000\n", {}, "up.nats_port: port 70000 is outside 0-65535"),
        ("[log]\nlevel = 'loud'\n", {}, "log.level: expected one of"),
        ("[ctp]\nmd_front = 'http://x'\n", {}, "ctp.md_front: expected a sim://, tcp:// or ssl:// address"),
        ("[nats]\nurl = \n", {}, "not valid TOML"),
        ("[ctp]\nbroker_id_file = '/x'\n", {}, "ctp.broker_id_file: unknown key"),
    ],
)
def test_bad_config_raises_one_line_naming_the_key(tmp_path: Path, text: str, env: dict[str, str],
                                                   message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(_write(tmp_path, text), env=env)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def _run_status(args: list[str], env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "tradebus", *args], capture_output=True, text=True, env=env,
                          timeout=60)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "configuration file not found"),
        ("[nats]\nconnect_timeout_s = 'x'\n", "nats.connect_timeout_s: Expected `float`, got `str`"),
        ("[nats]\nbogus = 1\n", "nats.bogus: unknown key"),
    ],
)
def test_cli_with_bad_config_prints_one_line_and_exits_2(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "bad.toml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = _run_status(["--config", str(path), "status"])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]


def test_list_settings_from_the_environment_are_comma_separated() -> None:
    config = load_config(env={"TRADEBUS_MD_SUBSCRIPTIONS": "ctp.SHFE.rb2601, futu.HK.00700,"})
    assert config.md.subscriptions == ["ctp.SHFE.rb2601", "futu.HK.00700"]
    assert load_config(env={"TRADEBUS_MD_SUBSCRIPTIONS": ""}).md.subscriptions == []
