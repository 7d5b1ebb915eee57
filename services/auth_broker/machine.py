"""The login state machine of docs/auth_broker.md, 'The login state' — synchronous and free of I/O.

Inputs are console markers, client requests, timer expiries and process lifecycle; outputs are
effects the broker carries out in order (write to OpenD, broadcast to WebSocket clients, announce a
state change). Keeping time and I/O out of here makes every transition a plain unit test.

Fixes over ostai (docs/auth_broker.md, 'Differences from ostai, on purpose'): a code given while one
is being verified is queued, not dropped; a wrong code
re-arms REQUEST_CODE even when OpenD prints no new prompt; a code sent while CONNECTED is refused and
never buffered (the stale-code deadlock); buffered codes die with the child; parsing never stops after
CONNECTED, so a forced logout or a new verify demand is announced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from auth_broker.markers import FAILURES, FATAL_FAILURES, Kind, Marker
from tradebus.schemas.auth import STATUS_NUMBER, AuthState

CODE_RE = re.compile(r"^[0-9A-Za-z]{3,12}$")

# Our states → the ostai STATUS number. FAILED (stopped on a fatal reason) reads as CLOSED to ostai.
WS_STATUS: dict[AuthState, int] = {**STATUS_NUMBER, AuthState.FAILED: -2}
RUNNING: frozenset[AuthState] = frozenset({
    AuthState.INITIALIZING, AuthState.REQUESTING_VERIFY_CODE, AuthState.VERIFYING_CODE, AuthState.CONNECTED,
    AuthState.REQUESTING_PIC_CODE, AuthState.VERIFYING_PIC_CODE,
})
STOPPED: frozenset[AuthState] = frozenset({AuthState.ORIGIN, AuthState.CLOSED, AuthState.FAILED})


class Reason(StrEnum):
    """Why a state was entered: what goes into ``AuthStateChanged.reason`` (never a secret)."""

    SPAWNED = "opend started"
    CODE_NEEDED = "opend asks for an SMS code"
    CODE_SENT = "code written to opend"
    CODE_WRONG = "opend refused the code"
    VERIFY_TIMEOUT = "no answer to the code in time"
    PIC_NEEDED = "opend asks for a picture code"
    PIC_SENT = "picture code written to opend"
    PIC_WRONG = "opend refused the picture code"
    LOGGED_IN = "login successful"
    FORCE_LOGOUT = "opend was logged out"
    EXITED = "opend exited"
    CRASH_LOOP = "opend keeps exiting without a login"
    NO_PASSWORD = "opend asks for a password but none is configured"
    PASSWORD_REPEAT = "opend asked for the password again: wrong password"
    STATE_LOCKED = "the OpenD state folder is locked by another process"
    START_FAILED = "opend could not be started"
    STOPPING = "broker stopping"


# --- effects -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """An operation command for OpenD. ``secret`` parts are never logged."""

    command: str
    secret: bool = False
    prompt_answer: bool = False  # a raw answer to an interactive prompt, not an operation command


@dataclass(frozen=True)
class Broadcast:
    message: dict[str, object]


@dataclass(frozen=True)
class Changed:
    previous: AuthState
    state: AuthState
    reason: str


@dataclass(frozen=True)
class RequestSms:
    """Ask OpenD to send the SMS (the broker spaces these by OpenD's 1-per-60-s limit)."""

    retry_later: bool = False


@dataclass(frozen=True)
class KillChild:
    """Stop this OpenD: it is stuck on something only an operator can fix."""

    reason: str


Effect = Write | Broadcast | Changed | RequestSms | KillChild


# --- the machine -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    account: str
    password: str  # plaintext for the interactive prompt; "" when only an MD5 is configured


@dataclass
class ExitVerdict:
    fatal: bool
    reason: str


@dataclass
class AuthMachine:
    credentials: Credentials
    pic_codes: bool = False
    supervise: bool = True
    state: AuthState = AuthState.ORIGIN
    reason: str = ""
    buffered_code: str | None = field(default=None, repr=False)  # given before OpenD asked
    queued_code: str | None = field(default=None, repr=False)  # given while another was being verified
    pic_path: str = ""
    failure: Kind | None = None  # the most specific login failure this child reported
    halt_reason: str = ""  # set when the child must not be restarted
    _pic_announced: bool = False
    _password_prompts: int = 0

    # ------------------------------------------------------------------ helpers
    @property
    def ws_status(self) -> int:
        state = self.state
        if not self.pic_codes and state is AuthState.REQUESTING_PIC_CODE:
            return WS_STATUS[AuthState.INITIALIZING]  # no new numbers in ostai's default flow
        if not self.pic_codes and state is AuthState.VERIFYING_PIC_CODE:
            return WS_STATUS[AuthState.INITIALIZING]
        return WS_STATUS[state]

    def _go(self, state: AuthState, reason: str, out: list[Effect]) -> None:
        if state is self.state:
            return
        previous, self.state, self.reason = self.state, state, reason
        out.append(Changed(previous, state, reason))

    def _ask_code(self, reason: str, out: list[Effect]) -> None:
        """OpenD wants an SMS code: use a waiting one, else tell everyone (once per entry)."""
        pending = self.queued_code or self.buffered_code
        if pending is not None:
            self.queued_code = self.buffered_code = None
            self._send_code(pending, out)
            return
        if self.state is not AuthState.REQUESTING_VERIFY_CODE:
            self._go(AuthState.REQUESTING_VERIFY_CODE, reason, out)
            out.append(Broadcast({"type": "REQUEST_CODE"}))

    def _send_code(self, code: str, out: list[Effect]) -> None:
        out.append(Write(f"input_phone_verify_code -code={code}", secret=True))
        self._go(AuthState.VERIFYING_CODE, Reason.CODE_SENT, out)

    def _ask_pic(self, reason: str, out: list[Effect]) -> None:
        if self.state is not AuthState.REQUESTING_PIC_CODE:
            self._pic_announced = False
            self._go(AuthState.REQUESTING_PIC_CODE, reason, out)

    def _announce_pic(self, out: list[Effect]) -> None:
        if self._pic_announced or self.state is not AuthState.REQUESTING_PIC_CODE:
            return
        self._pic_announced = True
        if self.pic_codes:
            out.append(Broadcast({"type": "REQUEST_PIC_CODE", "pic_verify_code_path": self.pic_path or None}))

    # ------------------------------------------------------------------ process lifecycle
    def on_spawned(self) -> list[Effect]:
        out: list[Effect] = []
        self.failure = None
        self.halt_reason = ""
        self._password_prompts = 0
        self._go(AuthState.INITIALIZING, Reason.SPAWNED, out)
        return out

    def on_exit(self, *, crash_loop: bool, exit_desc: str) -> tuple[list[Effect], ExitVerdict]:
        out: list[Effect] = []
        self.buffered_code = self.queued_code = None  # a code belongs to the login that asked for it
        if self.halt_reason:
            verdict = ExitVerdict(True, self.halt_reason)
        elif self.failure in FATAL_FAILURES:
            verdict = ExitVerdict(True, f"login failed: {self.failure.value.removeprefix('fail_')}")
        elif crash_loop:
            verdict = ExitVerdict(True, Reason.CRASH_LOOP)
        else:
            verdict = ExitVerdict(not self.supervise, f"{Reason.EXITED} ({exit_desc})")
        state = AuthState.FAILED if verdict.fatal and self.supervise else AuthState.CLOSED
        self._go(state, verdict.reason, out)
        out.append(Broadcast({"type": "CLOSED"}))
        return out, verdict

    def on_not_started(self, reason: str) -> list[Effect]:
        """The spawn itself failed. ostai's clients see what they see when its pty child dies at once:
        ``CLOSED``. No restart follows (a command that cannot run will not run in a second either)."""
        out: list[Effect] = []
        self.buffered_code = self.queued_code = None
        self._go(AuthState.FAILED, reason, out)
        out.append(Broadcast({"type": "CLOSED"}))
        return out

    # ------------------------------------------------------------------ console
    def on_marker(self, marker: Marker) -> list[Effect]:
        out: list[Effect] = []
        if self.state not in RUNNING:
            return out
        kind = marker.kind
        if kind in FAILURES:
            # "Login failed,<reason>" is followed by a bare "Login failed": keep the specific one.
            if self.failure is None or self.failure is Kind.FAIL_OTHER:
                self.failure = kind
        elif kind in {Kind.PROMPT_ACCOUNT, Kind.PROMPT_PASSWORD, Kind.PROMPT_REMEMBER}:
            self._on_prompt(kind, out)
        elif kind is Kind.LOGIN_OK:
            self.buffered_code = self.queued_code = None
            if self.state is not AuthState.CONNECTED:
                self._go(AuthState.CONNECTED, Reason.LOGGED_IN, out)
                out.append(Broadcast({"type": "CONNECTED"}))
        elif kind is Kind.FORCE_LOGOUT:
            if self.state is AuthState.CONNECTED:
                self._go(AuthState.INITIALIZING, Reason.FORCE_LOGOUT, out)
        elif kind in {Kind.PIC_NEEDED, Kind.PIC_TIP, Kind.PIC_WRONG, Kind.PIC_DOWNLOADED}:
            self._on_pic(marker, out)
        else:
            self._on_phone(kind, out)
        return out

    def _on_phone(self, kind: Kind, out: list[Effect]) -> None:
        state = self.state
        if kind is Kind.PHONE_RATE_LIMITED:
            if state is AuthState.INITIALIZING:
                self._ask_code(Reason.CODE_NEEDED, out)
            out.append(RequestSms(retry_later=True))
            return
        if kind is Kind.PHONE_WRONG:
            if state is AuthState.VERIFYING_CODE:
                self._ask_code(Reason.CODE_WRONG, out)
            return
        if state is AuthState.VERIFYING_CODE:
            # Tips ("Command tips: …", "requested successfully") trail the demand that the code answered;
            # only a new demand line means the code was not taken (Kael's mock re-prints its marker).
            if kind is not Kind.PHONE_NEEDED:
                return
            self._ask_code(Reason.CODE_WRONG, out)
        else:
            self._ask_code(Reason.CODE_NEEDED, out)
        if kind is Kind.PHONE_REQUEST_NEEDED and self.state is AuthState.REQUESTING_VERIFY_CODE:
            out.append(RequestSms())

    def _on_pic(self, marker: Marker, out: list[Effect]) -> None:
        kind = marker.kind
        if kind is Kind.PIC_WRONG:
            if self.state is AuthState.VERIFYING_PIC_CODE:
                self._ask_pic(Reason.PIC_WRONG, out)
            return
        if kind is Kind.PIC_DOWNLOADED and marker.path:
            self.pic_path = marker.path
        self._ask_pic(Reason.PIC_NEEDED, out)
        # Announce once the picture is there (the "downloaded" line or the input tip), with its path.
        if kind in {Kind.PIC_DOWNLOADED, Kind.PIC_TIP}:
            self._announce_pic(out)

    def _on_prompt(self, kind: Kind, out: list[Effect]) -> None:
        if kind is Kind.PROMPT_ACCOUNT:
            out.append(Write(self.credentials.account, secret=True, prompt_answer=True))
        elif kind is Kind.PROMPT_REMEMBER:
            out.append(Write("Y", prompt_answer=True))
        elif not self.credentials.password:
            self.halt_reason = Reason.NO_PASSWORD
            out.append(KillChild(Reason.NO_PASSWORD))
        elif self._password_prompts >= 1:
            self.halt_reason = Reason.PASSWORD_REPEAT
            out.append(KillChild(Reason.PASSWORD_REPEAT))
        else:
            self._password_prompts += 1
            out.append(Write(self.credentials.password, secret=True, prompt_answer=True))

    # ------------------------------------------------------------------ timers
    def on_verify_timeout(self) -> list[Effect]:
        out: list[Effect] = []
        if self.state is AuthState.VERIFYING_CODE:
            self._ask_code(Reason.VERIFY_TIMEOUT, out)
        elif self.state is AuthState.VERIFYING_PIC_CODE:
            self._ask_pic(Reason.VERIFY_TIMEOUT, out)
            self._announce_pic(out)
        return out

    # ------------------------------------------------------------------ clients
    def on_verify_code(self, code: str) -> tuple[list[Effect], str]:
        """A phone code from a client. Returns the effects and "" or why it was not used."""
        out: list[Effect] = []
        if not CODE_RE.match(code):
            return out, "invalid code: expected 3 to 12 letters or digits"
        state = self.state
        if state is AuthState.CONNECTED:
            return out, "already connected: code ignored"
        if state is AuthState.REQUESTING_VERIFY_CODE:
            self._send_code(code, out)
        elif state is AuthState.VERIFYING_CODE:
            self.queued_code = code  # used if OpenD refuses the one being verified
        else:
            self.buffered_code = code  # used when OpenD asks (ostai: no REQUEST_CODE then)
        return out, ""

    def on_verify_pic_code(self, code: str) -> tuple[list[Effect], str]:
        out: list[Effect] = []
        if not CODE_RE.match(code):
            return out, "invalid code: expected 3 to 12 letters or digits"
        if self.state is not AuthState.REQUESTING_PIC_CODE:
            return out, f"no picture code is asked for (state {self.state.value})"
        out.append(Write(f"input_pic_verify_code -code={code}", secret=True))
        self._go(AuthState.VERIFYING_PIC_CODE, Reason.PIC_SENT, out)
        return out, ""

    def wants_request_code_on_connect(self) -> bool:
        return self.state is AuthState.REQUESTING_VERIFY_CODE and self.buffered_code is None

    def on_connect_messages(self) -> list[dict[str, object]]:
        """What ostai unicasts to a client that has just connected."""
        if self.wants_request_code_on_connect():
            return [{"type": "REQUEST_CODE"}]
        if self.state is AuthState.CONNECTED:
            return [{"type": "CONNECTED"}]
        if self.pic_codes and self.state is AuthState.REQUESTING_PIC_CODE:
            return [{"type": "REQUEST_PIC_CODE", "pic_verify_code_path": self.pic_path or None}]
        return []
