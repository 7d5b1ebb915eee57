"""Configuration: one TOML file plus ``TRADEBUS_<SECTION>_<KEY>`` environment overrides.

Everything is validated with msgspec at start-up. A bad file or value raises :class:`ConfigError`,
whose message is one line naming the key and the problem; :func:`load_or_exit` prints it and exits
with status 2. Secrets (passwords, password MD5s, tokens) are :class:`Secret` values: their ``str`` and
``repr`` are ``***``, so a stray log call cannot print them. They can be set in the file, in the
environment, or in a file named by ``<key>_file`` (``TRADEBUS_CTP_PASSWORD_FILE=/run/secrets/ctp``) —
never on a command line, where ``ps`` would show them.
"""

from __future__ import annotations

import os
import sys
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from tradebus.config_sections.auth import AuthConfig
from tradebus.config_sections.base import Secret, Section
from tradebus.config_sections.fmz import FmzConfig
from tradebus.config_sections.md import MdConfig
from tradebus.config_sections.td import TdConfig
from tradebus.config_sections.users import UsersConfig
from tradebus.config_sections.ws import WsConfig

__all__ = ["Config", "ConfigError", "Secret", "Section", "load_config", "load_or_exit"]

ENV_PREFIX = "TRADEBUS_"
CONFIG_ENV = "TRADEBUS_CONFIG"
TEST_ENV_PREFIX = "TRADEBUS_TEST_"  # switches of the test suite, not settings


class NatsConfig(Section, frozen=True, kw_only=True):
    url: str = "nats://127.0.0.1:4222"  # one server, or every node of a cluster comma-separated
    user: str = ""
    password: Secret = Secret("")
    token: Secret = Secret("")
    connect_timeout_s: float = 5.0
    request_timeout_s: float = 5.0
    max_reconnect_attempts: int = -1  # never give up: a gateway outlives NATS restarts
    reconnect_wait_s: float = 1.0
    pending_size_mb: int = 8

    @property
    def servers(self) -> list[str]:
        """The server URLs of ``url``: a client given every node of a cluster reconnects to a live one."""
        return server_urls(self.url)


def server_urls(url: str) -> list[str]:
    """``nats://a:4222,nats://b:4223`` → one URL per server (the form ``[nats] url`` takes for a cluster)."""
    return [part.strip() for part in url.split(",") if part.strip()]


class LogConfig(Section, frozen=True, kw_only=True):
    level: str = "info"
    format: str = "auto"  # "auto" (colours on a TTY, JSON otherwise), "json", "console"
    stream: str = "stderr"  # or "stdout": where containers' log collectors look (compose sets it)


class DataConfig(Section, frozen=True, kw_only=True):
    dir: str = "var"  # every service keeps its files under <dir>/<service>


class StreamsConfig(Section, frozen=True, kw_only=True):
    md_max_age_s: float = 86400.0
    md_max_bytes: int = 1 << 30
    md_max_msgs_per_subject: int = 10_000
    td_evt_max_bytes: int = 8 << 30
    td_evt_duplicate_window_s: float = 1800.0
    auth_max_age_s: float = 30 * 86400.0
    replicas: int = 1


class RuntimeConfig(Section, frozen=True, kw_only=True):
    heartbeat_s: float = 2.0
    stop_timeout_s: float = 10.0
    http_host: str = "127.0.0.1"


class HealthPorts(Section, frozen=True, kw_only=True):
    """Per-service port for ``/healthz`` and ``/metrics`` (0 = disabled)."""

    supervisor: int = 9100
    md_ingest: int = 9101
    td_exec: int = 9102
    auth_broker: int = 9103
    ws_edge: int = 9104
    fmz_edge: int = 9105


class UpConfig(Section, frozen=True, kw_only=True):
    """``tradebus up``: the embedded nats-server and the simulators it starts."""

    nats_host: str = "127.0.0.1"
    nats_port: int = 4222
    monitor_port: int = 8222
    simulators: bool = True
    opend_api_port: int = 11111
    opend_telnet_port: int = 22222
    opend_scenario: str = "ok"
    ctp_td_port: int = 40001
    ctp_md_port: int = 40011
    # nats-server nodes on this machine: 1 (the default) is one server; 3 a cluster with R3 streams. Node i
    # listens on nats_port + i, cluster_port + i (routes, loopback) and monitor_port + i.
    nats_cluster: int = 1
    cluster_port: int = 6222
    # Instances of each bus service run side by side (1 to MAX_INSTANCES). Instance i (1…N) is the process
    # "<service>/<i>" with instance_id "<i>" and its own data folder; its ports (the service's health port,
    # ws_edge's md_port/td_port, fmz_edge's port) are the configured ones + (i − 1) × instance_port_step.
    ws_edge_instances: int = 1
    fmz_edge_instances: int = 1
    md_ingest_instances: int = 1
    td_exec_instances: int = 1
    instance_port_step: int = 10


class FutuConfig(Section, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 11111
    login_account: str = ""
    login_pwd_md5: Secret = Secret("")
    login_pwd: Secret = Secret("")
    trade_pwd_md5: Secret = Secret("")
    # auth_broker instance in front of this OpenD: Futu adapters wait for its CONNECTED state and
    # reconnect when it restarts. Empty: no broker, OpenD is assumed logged in.
    auth_instance: str = ""


class CtpConfig(Section, frozen=True, kw_only=True):
    md_front: str = "sim://127.0.0.1:40011"
    td_front: str = "sim://127.0.0.1:40001"
    broker_id: str = "9999"
    user_id: str = "000001"
    password: Secret = Secret("")
    app_id: str = "simnow_client_test"
    auth_code: Secret = Secret("")


class Config(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    nats: NatsConfig = NatsConfig()
    log: LogConfig = LogConfig()
    data: DataConfig = DataConfig()
    streams: StreamsConfig = StreamsConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    health: HealthPorts = HealthPorts()
    up: UpConfig = UpConfig()
    futu: FutuConfig = FutuConfig()
    ctp: CtpConfig = CtpConfig()
    md: MdConfig = MdConfig()
    td: TdConfig = TdConfig()
    auth: AuthConfig = AuthConfig()
    ws: WsConfig = WsConfig()
    fmz: FmzConfig = FmzConfig()
    users: UsersConfig = UsersConfig()

    def secrets(self) -> list[str]:
        """Every non-empty secret value, so the log redactor can mask them wherever they appear."""
        found: list[str] = []
        for section_name in self.__struct_fields__:
            section = getattr(self, section_name)
            for key in section.__struct_fields__:
                value = getattr(section, key)
                if isinstance(value, Secret) and value:
                    found.append(value.reveal())
        return found


class ConfigError(Exception):
    """A one-line, operator-readable description of what is wrong with the configuration."""


_LOG_LEVELS = {"debug", "info", "warning", "error", "critical"}
OPEND_MODES = ("auto", "supervised", "external")  # [auth] opend
MAX_CLUSTER_NODES = 5  # [up] nats_cluster: Raft needs a majority, and more nodes on one machine only share it
MAX_INSTANCES = 8  # [up] <service>_instances: more on one machine only share its cores
SCALED_SERVICES = ("md_ingest", "td_exec", "ws_edge", "fmz_edge")  # what [up] <service>_instances can multiply


def _section_types() -> dict[str, type[Section]]:
    return {f.name: f.type for f in msgspec.structs.fields(Config)}


def _field_type(section: type[Section], key: str) -> Any:
    return next(f.type for f in msgspec.structs.fields(section) if f.name == key)


def _dec_hook(typ: type, obj: Any) -> Any:
    if typ is Secret:
        if isinstance(obj, str):
            return Secret(obj)
        raise msgspec.ValidationError(f"Expected `str`, got `{type(obj).__name__}`")
    raise NotImplementedError


def _env_value(raw: str, typ: Any) -> Any:
    """Environment values are strings; turn them into what the field wants before validation."""
    if typing.get_origin(typ) in (list, tuple):  # "a,b,c" → ["a", "b", "c"]; "" → []
        return [item.strip() for item in raw.split(",") if item.strip()]
    if typ is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        return raw  # let validation name the problem
    if typ is int:
        try:
            return int(raw)
        except ValueError:
            return raw
    if typ is float:
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


def _read_secret_file(path: str, where: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read secret file {path!r}: {exc.strerror}") from exc


def _apply_file_secrets(raw: dict[str, Any], sections: Mapping[str, type[Section]]) -> None:
    """Replace ``<key>_file = "path"`` entries by the file's contents under ``<key>``."""
    for name, values in raw.items():
        if name not in sections or not isinstance(values, dict):
            continue
        for key in [k for k in values if k.endswith("_file")]:
            target = key.removesuffix("_file")
            if target not in sections[name].__struct_fields__ or _field_type(sections[name], target) is not Secret:
                raise ConfigError(f"{name}.{key}: unknown key (only secrets can be read from a file)")
            path = values.pop(key)
            if not isinstance(path, str):
                raise ConfigError(f"{name}.{key}: expected a path string")
            values[target] = _read_secret_file(path, f"{name}.{key}")


def _apply_env(raw: dict[str, Any], env: Mapping[str, str], sections: Mapping[str, type[Section]]) -> None:
    # Longest section names first, so TRADEBUS_UP_… is never mistaken for a longer section's prefix.
    names = sorted(sections, key=len, reverse=True)
    for var, value in env.items():
        if not var.startswith(ENV_PREFIX) or var == CONFIG_ENV or var.startswith(TEST_ENV_PREFIX):
            continue
        rest = var[len(ENV_PREFIX) :].lower()
        section = next((n for n in names if rest.startswith(n + "_")), None)
        if section is None:
            raise ConfigError(f"{var}: unknown configuration section in environment variable")
        key = rest[len(section) + 1 :]
        fields = sections[section].__struct_fields__
        if key.endswith("_file") and key.removesuffix("_file") in fields:
            target = key.removesuffix("_file")
            if _field_type(sections[section], target) is not Secret:
                raise ConfigError(f"{var}: only secrets can be read from a file")
            raw.setdefault(section, {})[target] = _read_secret_file(value, var)
            continue
        if key not in fields:
            raise ConfigError(f"{var}: unknown key {section}.{key}")
        raw.setdefault(section, {})[key] = _env_value(value, _field_type(sections[section], key))


def validate(config: Config) -> None:
    """The checks that span sections or need more than a type; ConfigError names the key."""
    if config.log.level.lower() not in _LOG_LEVELS:
        raise ConfigError(f"log.level: expected one of {', '.join(sorted(_LOG_LEVELS))}, got {config.log.level!r}")
    if config.log.format not in {"auto", "json", "console"}:
        raise ConfigError(f"log.format: expected auto, json or console, got {config.log.format!r}")
    if config.log.stream not in {"stderr", "stdout"}:
        raise ConfigError(f"log.stream: expected stderr or stdout, got {config.log.stream!r}")
    for section_name in ("health", "up"):
        section = getattr(config, section_name)
        for key in section.__struct_fields__:
            value = getattr(section, key)
            if key.endswith("port") and isinstance(value, int) and not 0 <= value <= 65535:
                raise ConfigError(f"{section_name}.{key}: port {value} is outside 0-65535")
    if not 1 <= config.up.nats_cluster <= MAX_CLUSTER_NODES:
        raise ConfigError(f"up.nats_cluster: expected 1 to {MAX_CLUSTER_NODES} nodes, got {config.up.nats_cluster}")
    for service in SCALED_SERVICES:
        count = getattr(config.up, f"{service}_instances")
        if not 1 <= count <= MAX_INSTANCES:
            raise ConfigError(f"up.{service}_instances: expected 1 to {MAX_INSTANCES}, got {count}")
    if not 1 <= config.up.instance_port_step <= 1000:
        raise ConfigError(f"up.instance_port_step: expected 1 to 1000, got {config.up.instance_port_step}")
    if config.auth.opend not in OPEND_MODES:
        raise ConfigError(f"auth.opend: expected one of {', '.join(OPEND_MODES)}, got {config.auth.opend!r}")
    for key in ("md_front", "td_front"):
        front = getattr(config.ctp, key)
        if not front.startswith(("sim://", "tcp://", "ssl://")):
            raise ConfigError(f"ctp.{key}: expected a sim://, tcp:// or ssl:// address, got {front!r}")


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (or ``$TRADEBUS_CONFIG``; none at all means defaults), apply env overrides."""
    env = os.environ if env is None else env
    path = path if path is not None else env.get(CONFIG_ENV) or None
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: configuration file not found") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read configuration file: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    sections = _section_types()
    unknown = [name for name in raw if name not in sections]
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown configuration section")
    for name, values in raw.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{name}: expected a [{name}] table")
    _apply_file_secrets(raw, sections)
    _apply_env(raw, env, sections)
    try:
        config = msgspec.convert(raw, Config, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise ConfigError(_one_line(exc)) from exc
    validate(config)
    return config


def _one_line(exc: msgspec.ValidationError) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.nats.connect_timeout_s`"; lead with the key.
    message = str(exc)
    if " - at `$." in message:
        what, where = message.rsplit(" - at `$.", 1)
        key = where.rstrip("`")
        if what.startswith("Object contains unknown field"):
            field = what.split("`")[1]
            return f"{key}.{field}: unknown key"
        return f"{key}: {what}"
    return message


def load_or_exit(path: str | os.PathLike[str] | None = None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"tradebus: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
