"""``[auth]``: auth_broker (the OpenD supervisor and its ostai-compatible WebSocket).

The OpenD credentials live in ``[futu]`` (``login_account``, ``login_pwd_md5``, ``login_pwd``) because
the Futu adapters use the same account. ``ostai/futuopend``'s environment variables (``FUTU_*``,
``SERVER_PORT``) are read by the broker on top of this section, so a container set up for that image
works unchanged; see ``services/auth_broker/settings.py`` for the exact mapping.

Command lines are strings split like a shell does (``shlex``), so they can be set from one
environment variable: ``TRADEBUS_AUTH_OPEND_CMD="python -m opend_sim"``.
"""

from __future__ import annotations

import ipaddress

from tradebus.config_sections.base import Secret, Section

MIN_TOKEN_CHARS = 16  # a token guarding a non-loopback WebSocket must not be guessable by hand


class AuthConfig(Section, frozen=True, kw_only=True):
    instance: str = "default"  # auth.opend.<instance>.*
    # Who runs OpenD: "supervised" (the broker runs opend_cmd below), "external" (an OpenD run
    # elsewhere, at [futu] host/port: the broker only reports its login state, read from OpenD's API),
    # or "auto": supervised, except under `tradebus up --no-sims`, where it means external.
    opend: str = "auto"
    # --- the OpenD process ---------------------------------------------------------------------
    opend_cmd: str = "FutuOpenD"  # the binary (and leading arguments), e.g. "python -m opend_sim"
    opend_args: str = ""  # extra arguments appended after the standard OpenD flags
    lang: str = "en"  # -lang (ostai's effective default; the console parser knows en and chs)
    log_level: str = "no"  # -log_level
    login_region: str = ""  # -login_region, passed only when set (OpenD <= 8.x)
    api_ip: str = ""  # -api_ip (and -websocket_ip, as ostai 2.0.3 does), passed only when set
    api_port: int = 0  # -api_port; 0 = [futu] port
    telnet_ip: str = "127.0.0.1"
    telnet_port: int = 0  # 0 = OpenD gets no telnet port (ostai passes none)
    code_channel: str = "console"  # "console" (the pty, as ostai) or "telnet"
    # OpenD's data folder (Device.dat, Broker.dat). The broker locks it, so two OpenDs never share it.
    state_dir: str = ""  # default: ~/.com.futunn.FutuOpenD
    state_dir_flag: str = ""  # when set, "<flag>=<state_dir>" is passed (opend_sim: "--state-dir")
    # --- supervision ---------------------------------------------------------------------------
    init_on_start: bool = True  # FUTU_INIT_ON_START
    supervise: bool = True  # FUTU_SUPERVISE_PROCESS: restart OpenD when it exits
    instant_restarts: int = 2  # this many quick exits in a row restart at once (as ostai); then the backoff
    backoff_initial_s: float = 5.0  # the delay after the instant restarts, doubling to backoff_max_s
    backoff_max_s: float = 600.0
    backoff_reset_after_s: float = 300.0  # CONNECTED this long: the next restart starts from the initial delay
    min_spawn_gap_s: float = 5.0  # an INIT (or a backed-off restart) never respawns faster than this
    max_quick_exits: int = 5  # this many exits in a row without a login: a crash loop, stop until INIT
    quick_exit_s: float = 60.0  # an exit sooner than this after the spawn is "quick" (a crash, not an outage)
    start_timeout_s: float = 120.0  # no login result nor prompt by then: restart OpenD
    verify_timeout_s: float = 60.0  # no answer to a code by then: ask for a code again
    stop_grace_s: float = 4.0  # after "exit", wait this long before SIGTERM / SIGKILL
    sms_auto_request: bool = True  # answer "Command tips: req_phone_verify_code" by requesting the SMS
    sms_request_interval_s: float = 60.0  # OpenD allows one SMS request per 60 s
    pic_codes: bool = False  # opt-in: REQUEST_PIC_CODE / VERIFY_PIC_CODE and STATUS 4/5 on the WebSocket
    # --- the WebSocket (ostai protocol) --------------------------------------------------------
    ws_host: str = "127.0.0.1"  # anything but a loopback address requires `token` (checked at start-up)
    ws_port: int = 8000  # SERVER_PORT; 0 = a free port (printed in the log)
    ws_enabled: bool = True
    token: Secret = Secret("")  # when set, clients must connect with ?token=<token>
    ws_max_frame: int = 4096  # bytes; a bigger frame closes that connection (1009)
    ws_rate_per_s: float = 5.0  # frames per second per client, sustained
    ws_burst: int = 20  # frames a client may send at once
    ws_max_clients: int = 64

    def __post_init__(self) -> None:
        # Anyone who reaches this WebSocket can finish the OpenD login; off loopback that must not be
        # anonymous. msgspec turns this ValueError into the one-line ConfigError "auth: …".
        if self.ws_enabled and not is_loopback(self.ws_host) and len(self.token.reveal()) < MIN_TOKEN_CHARS:
            raise ValueError(
                f"ws_host {self.ws_host!r} is not a loopback address: set auth.token "
                f"(TRADEBUS_AUTH_TOKEN, at least {MIN_TOKEN_CHARS} characters) so clients must connect "
                "with ?token=…, or bind ws_host to 127.0.0.1")


def is_loopback(host: str) -> bool:
    """True only for addresses that cannot be reached from another machine ("" and 0.0.0.0 are every address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere
