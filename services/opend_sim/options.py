"""Command line of the simulated OpenD.

OpenD's own parameters use its single-dash ``-key=value`` form (docs/auth_broker.md, 'Command line'); a bare
``-key`` (as pangliang's image passes ``-console -no_monitor``) means ``1``. Values from
``-cfg_file`` (OpenD's XML) are read first and the command line wins. Simulator-only options use
the double-dash form (``--scenario NAME`` or ``--scenario=NAME``) so they can never collide with an
OpenD key. Every OpenD key is recorded; an unknown one is an error (exit code 1).
"""

from __future__ import annotations

import hashlib
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from opend_sim.texts import Lang

# OpenD keys accepted on the command line (docs/auth_broker.md, 'Command line').
OPEND_KEYS: tuple[str, ...] = (
    "login_account", "login_pwd", "login_pwd_md5", "login_region", "login_by_remember", "area_code",
    "lang", "log_level", "api_ip", "api_port", "telnet_ip", "telnet_port", "cfg_file", "console",
    "no_monitor", "help", "rsa_private_key", "websocket_ip", "websocket_port", "websocket_private_key",
    "websocket_cert", "websocket_key_md5", "price_reminder_push", "auto_hold_quote_right",
    "future_trade_api_time_zone",
)  # fmt: skip

# XML element name -> command-line key; OpenD's XML calls the API address ``ip``.
XML_KEYS: dict[str, str] = {key: key for key in OPEND_KEYS if key not in ("cfg_file", "help")} | {"ip": "api_ip"}

LOG_LEVELS: frozenset[str] = frozenset({"no", "debug", "info", "warning", "error", "fatal"})

SIM_OPTIONS: dict[str, str] = {
    # option -> environment variable that supplies its default ("" = none)
    "scenario": "OPEND_SIM_SCENARIO",
    "state-dir": "",
    "verify-code": "OPEND_SIM_VERIFY_CODE",
    "pic-verify-code": "OPEND_SIM_PIC_VERIFY_CODE",
    "trade-pwd": "OPEND_SIM_TRADE_PWD",
    "tick-interval": "",
    "seed": "",
}
SIM_DEFAULTS: dict[str, str] = {
    "scenario": "ok",
    "verify-code": "123456",
    "pic-verify-code": "1234",
    "trade-pwd": "123456",
    "tick-interval": "0.5",
    "seed": "7",
}

_MD5_HEX = re.compile(r"^[0-9a-fA-F]{32}$")


class UsageError(Exception):
    """A command line OpenD would refuse; the message is printed and the process exits 1."""


@dataclass(frozen=True, slots=True)
class Options:
    login_account: str
    pwd_md5: str = field(repr=False)  # lower-case md5 hex, or "" when no password was given
    pwd_md5_malformed: bool
    lang: Lang
    log_level: str
    api_ip: str
    api_port: int
    telnet_ip: str
    telnet_port: int | None  # None: no telnet listener
    cfg_file: str | None
    scenario: str
    state_dir: Path
    verify_code: str = field(repr=False)
    pic_verify_code: str = field(repr=False)
    trade_pwd: str = field(repr=False)
    tick_interval: float
    seed: int
    speed: float
    opend_args: dict[str, str] = field(repr=False)  # every OpenD key given, after the XML merge


def default_state_dir() -> Path:
    """Where command-line OpenD keeps Device.dat and its logs on Linux (docs/auth_broker.md, 'State folder')."""
    return Path.home() / ".com.futunn.FutuOpenD"


def parse(argv: list[str], env: dict[str, str] | None = None) -> Options:
    env = dict(os.environ) if env is None else env
    opend, sim = _split(argv)
    merged = _read_cfg(opend["cfg_file"]) if opend.get("cfg_file") else {}
    merged.update(opend)
    sim_values = {name: _sim_value(name, sim, env) for name in SIM_OPTIONS}
    return _build(merged, sim_values, env)


def wants_help(argv: list[str]) -> bool:
    return any(arg == "-help" or arg.startswith("-help=") for arg in argv)


def help_lines() -> list[str]:
    return [f"-{key}" for key in OPEND_KEYS] + [f"--{name}" for name in SIM_OPTIONS]


def _split(argv: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    opend: dict[str, str] = {}
    sim: dict[str, str] = {}
    args = iter(argv)
    for arg in args:
        if arg.startswith("--"):
            name, has_value, value = arg[2:].partition("=")
            if name not in SIM_OPTIONS:
                raise UsageError(f"Unknown option: --{name}")
            if not has_value:
                value = next(args, None)
                if value is None:
                    raise UsageError(f"Option --{name} needs a value")
            sim[name] = value
        elif arg.startswith("-") and len(arg) > 1:
            key, has_value, value = arg[1:].partition("=")
            if key not in OPEND_KEYS:
                raise UsageError(f"Unknown parameter: -{key} (run with -help for the parameter list)")
            opend[key] = value if has_value else "1"
        else:
            raise UsageError(f"Unexpected argument: {arg!r} (parameters use the form -key=value)")
    return opend, sim


def _read_cfg(path: str) -> dict[str, str]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise UsageError(f"Failed to load configuration file: {path} ({exc.__class__.__name__})") from exc
    values: dict[str, str] = {}
    for element in root.iter():
        key = XML_KEYS.get(element.tag)
        if key is not None and element.text is not None and element.text.strip():
            values[key] = element.text.strip()
    return values


def _sim_value(name: str, given: dict[str, str], env: dict[str, str]) -> str:
    if name in given:
        return given[name]
    env_name = SIM_OPTIONS[name]
    if env_name and env.get(env_name):
        return env[env_name]
    return SIM_DEFAULTS.get(name, "")


def _build(opend: dict[str, str], sim: dict[str, str], env: dict[str, str]) -> Options:
    pwd_md5, malformed = password_md5(opend.get("login_pwd_md5", ""), opend.get("login_pwd", ""))
    telnet_port_text = opend.get("telnet_port", "22222")
    return Options(
        login_account=opend.get("login_account", ""),
        pwd_md5=pwd_md5,
        pwd_md5_malformed=malformed,
        lang=_lang(opend.get("lang", "chs")),
        log_level=_choice("log_level", opend.get("log_level", "info"), LOG_LEVELS),
        api_ip=opend.get("api_ip", "127.0.0.1"),
        api_port=_port("api_port", opend.get("api_port", "11111")),
        telnet_ip=opend.get("telnet_ip", "127.0.0.1"),
        telnet_port=_port("telnet_port", telnet_port_text) if telnet_port_text else None,
        cfg_file=opend.get("cfg_file"),
        scenario=sim["scenario"],
        state_dir=Path(sim["state-dir"]).expanduser() if sim["state-dir"] else default_state_dir(),
        verify_code=sim["verify-code"],
        pic_verify_code=sim["pic-verify-code"],
        trade_pwd=sim["trade-pwd"],
        tick_interval=_positive("--tick-interval", sim["tick-interval"]),
        seed=_integer("--seed", sim["seed"]),
        speed=_positive("OPEND_SIM_SPEED", env.get("OPEND_SIM_SPEED") or "1"),
        opend_args=opend,
    )


def password_md5(md5_text: str, plain: str) -> tuple[str, bool]:
    # OpenD uses only the MD5 when both are given (docs/auth_broker.md, 'Command line').
    if md5_text:
        return (md5_text.lower(), False) if _MD5_HEX.match(md5_text) else ("", True)
    if plain:
        return hashlib.md5(plain.encode()).hexdigest(), False
    return "", False


def _lang(value: str) -> Lang:
    try:
        return Lang(value)
    except ValueError as exc:
        raise UsageError(f"Invalid parameter: -lang={value} (use en or chs)") from exc


def _choice(key: str, value: str, allowed: frozenset[str]) -> str:
    if value not in allowed:
        raise UsageError(f"Invalid parameter: -{key}={value} (use one of {', '.join(sorted(allowed))})")
    return value


def _port(key: str, value: str) -> int:
    port = _integer(f"-{key}", value)
    if not 0 <= port <= 65535:
        raise UsageError(f"Invalid parameter: -{key}={value}")
    return port


def _integer(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise UsageError(f"Invalid value for {name}: {value!r}") from exc


def _positive(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise UsageError(f"Invalid value for {name}: {value!r}") from exc
    if number <= 0:
        raise UsageError(f"Invalid value for {name}: {value!r} (must be > 0)")
    return number
