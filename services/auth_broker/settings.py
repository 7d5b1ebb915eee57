"""The broker's effective settings: ``[auth]`` + ``[futu]`` + ostai's environment variables.

``ostai/futuopend`` is configured only through ``FUTU_*`` and ``SERVER_PORT``; a container set up for it
must run the broker unchanged, so those variables win over the file (as ``TRADEBUS_*`` ones do).
Booleans follow ``@ostai/env``: ``yes|true|1|y`` (any case, or containing yes/true) is true, anything
else false. Integers take the leading digits (``8000abc`` is 8000), but a value with none is an error,
not ostai's silent 0. An empty ``FUTU_LOGIN_ACCOUNT`` is an error too (ostai passed ``-login_account=``).
A ``FUTU_LOGIN_PWD_MD5`` that is not 32 hex digits is passed on as given (as ostai), with a warning.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from tradebus.config import Config, ConfigError, Secret
from tradebus.config_sections.auth import AuthConfig

# ostai variable -> ([auth] or [futu] field, kind)
OSTAI_ENV: dict[str, tuple[str, str, str]] = {
    "FUTU_LOGIN_ACCOUNT": ("futu", "login_account", "str"),
    "FUTU_LOGIN_PWD_MD5": ("futu", "login_pwd_md5", "secret"),
    "FUTU_LOGIN_PWD": ("futu", "login_pwd", "secret"),
    "FUTU_LOGIN_REGION": ("auth", "login_region", "str"),
    "FUTU_LANG": ("auth", "lang", "str"),
    "FUTU_LOG_LEVEL": ("auth", "log_level", "str"),
    "FUTU_PORT": ("auth", "api_port", "int"),
    "FUTU_IP": ("auth", "api_ip", "str"),
    "FUTU_CMD": ("auth", "opend_cmd", "str"),
    "SERVER_PORT": ("auth", "ws_port", "int"),
    "FUTU_INIT_ON_START": ("auth", "init_on_start", "bool"),
    "FUTU_SUPERVISE_PROCESS": ("auth", "supervise", "bool"),
}

CODE_CHANNELS = ("console", "telnet")
LANGS = ("en", "chs")
_LEADING_INT = re.compile(r"^\s*([+-]?\d+)")
_MD5_HEX = re.compile(r"^[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class Credentials:
    account: str
    pwd_md5: Secret  # what goes on OpenD's command line (from FUTU_LOGIN_PWD when no MD5 is given)
    pwd: Secret  # plaintext, only to answer OpenD 10.10's interactive password prompt

    @property
    def md5_is_hex(self) -> bool:
        md5 = self.pwd_md5.reveal()
        return not md5 or _MD5_HEX.match(md5) is not None

    def secret_values(self) -> list[str]:
        return [s.reveal() for s in (self.pwd_md5, self.pwd) if s]


@dataclass(frozen=True)
class BrokerSettings:
    auth: AuthConfig
    credentials: Credentials = field(repr=False)
    api_port: int
    state_dir: Path

    def opend_argv(self) -> list[str]:
        """The OpenD command line, built the way ostai's image builds it (plus telnet and extras)."""
        auth = self.auth
        argv = [*shlex.split(auth.opend_cmd), f"-login_account={self.credentials.account}"]
        if self.credentials.pwd_md5:
            argv.append(f"-login_pwd_md5={self.credentials.pwd_md5.reveal()}")
        if auth.login_region:
            argv.append(f"-login_region={auth.login_region}")
        argv += [f"-lang={auth.lang}", f"-log_level={auth.log_level}"]
        if auth.api_ip:
            argv += [f"-api_ip={auth.api_ip}", f"-websocket_ip={auth.api_ip}"]
        argv.append(f"-api_port={self.api_port}")
        if auth.telnet_port:
            argv += [f"-telnet_ip={auth.telnet_ip}", f"-telnet_port={auth.telnet_port}"]
        if auth.state_dir_flag:
            argv.append(f"{auth.state_dir_flag}={self.state_dir}")
        return argv + shlex.split(auth.opend_args)

    def printable_argv(self) -> list[str]:
        """The command line with the password MD5 masked: what may appear in a log line."""
        secrets = self.credentials.secret_values()
        out = []
        for arg in self.opend_argv():
            for secret in secrets:
                arg = arg.replace(secret, "***")
            out.append(arg)
        return out


def ostai_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    return lowered in {"1", "y"} or "yes" in lowered or "true" in lowered


def ostai_int(name: str, raw: str) -> int:
    match = _LEADING_INT.match(raw)
    if match is None:
        raise ConfigError(f"{name}: expected an integer, got {raw!r}")
    return int(match.group(1))


def ostai_retry_base(env: Mapping[str, str]) -> int:
    """``FUTU_RETRY`` as ostai reads it (``parseInt(v, 10) || 0``): the first value of its restart counter."""
    match = _LEADING_INT.match(env.get("FUTU_RETRY", ""))
    return int(match.group(1)) if match else 0


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, object]]:
    changes: dict[str, dict[str, object]] = {"auth": {}, "futu": {}}
    for var, (section, key, kind) in OSTAI_ENV.items():
        if var not in env:
            continue
        raw = env[var]
        value: object
        if kind == "bool":
            value = ostai_bool(raw)
        elif kind == "int":
            value = ostai_int(var, raw)
        elif kind == "secret":
            value = Secret(raw)
        else:
            value = raw
        changes[section][key] = value
    return changes


def _credentials(config: Config) -> Credentials:
    futu = config.futu
    account = futu.login_account.strip()
    if not account:
        raise ConfigError("futu.login_account (FUTU_LOGIN_ACCOUNT) is empty: OpenD cannot log in without an account")
    md5 = futu.login_pwd_md5.reveal().strip()
    if _MD5_HEX.match(md5):
        md5 = md5.lower()
    # Anything else is passed as given, as ostai does (its own tests use "test"); the broker warns, and OpenD
    # refuses the login, which stops OpenD as a wrong password does.
    plain = futu.login_pwd.reveal()
    if not md5 and plain:
        # Only the MD5 ever goes on the command line, where `ps` shows it; the plaintext stays in memory
        # for 10.10's interactive prompt.
        md5 = hashlib.md5(plain.encode()).hexdigest()
    return Credentials(account=account, pwd_md5=Secret(md5), pwd=Secret(plain))


def _validate(auth: AuthConfig) -> None:
    if auth.lang not in LANGS:
        raise ConfigError(f"auth.lang (FUTU_LANG): expected en or chs, got {auth.lang!r}")
    if auth.code_channel not in CODE_CHANNELS:
        raise ConfigError(f"auth.code_channel: expected console or telnet, got {auth.code_channel!r}")
    if auth.code_channel == "telnet" and not auth.telnet_port:
        raise ConfigError("auth.code_channel is telnet but auth.telnet_port is 0")
    if not shlex.split(auth.opend_cmd):
        raise ConfigError("auth.opend_cmd (FUTU_CMD) is empty")
    for key in ("ws_port", "telnet_port", "api_port"):
        if not 0 <= getattr(auth, key) <= 65535:
            raise ConfigError(f"auth.{key}: port {getattr(auth, key)} is outside 0-65535")
    if auth.ws_max_frame < 64 or auth.ws_burst < 1 or auth.ws_rate_per_s <= 0:
        raise ConfigError("auth.ws_max_frame must be >= 64, ws_burst >= 1 and ws_rate_per_s > 0")


def resolve(config: Config, env: Mapping[str, str]) -> tuple[Config, BrokerSettings]:
    """Apply ostai's variables and validate. Returns the updated config too (for its secrets list)."""
    changes = _env_overrides(env)
    try:
        config = msgspec.structs.replace(
            config,
            auth=msgspec.structs.replace(config.auth, **changes["auth"]),
            futu=msgspec.structs.replace(config.futu, **changes["futu"]),
        )
    except (TypeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"auth: {exc}") from exc
    _validate(config.auth)
    state_dir = Path(config.auth.state_dir).expanduser() if config.auth.state_dir else \
        Path.home() / ".com.futunn.FutuOpenD"
    settings = BrokerSettings(
        auth=config.auth,
        credentials=_credentials(config),
        api_port=config.auth.api_port or config.futu.port,
        state_dir=state_dir,
    )
    return config, settings
