"""OpenD login state (subjects ``auth.opend.<instance>.*``).

``status`` uses the numbers of the ``ostai/futuopend`` protocol (-2…3, and 4/5 for picture codes),
so a bus reader and a WebSocket client of the broker speak of the same states.
"""

from __future__ import annotations

from enum import StrEnum

from tradebus.schemas.base import BusMessage


class AuthState(StrEnum):
    CLOSED = "closed"  # -2: OpenD not running
    ORIGIN = "origin"  # -1: not started yet
    INITIALIZING = "initializing"  # 0
    REQUESTING_VERIFY_CODE = "requesting_verify_code"  # 1
    VERIFYING_CODE = "verifying_code"  # 2
    CONNECTED = "connected"  # 3
    REQUESTING_PIC_CODE = "requesting_pic_code"  # 4
    VERIFYING_PIC_CODE = "verifying_pic_code"  # 5
    FAILED = "failed"  # stopped on a fatal reason until someone sends INIT


STATUS_NUMBER: dict[AuthState, int] = {
    AuthState.CLOSED: -2,
    AuthState.ORIGIN: -1,
    AuthState.INITIALIZING: 0,
    AuthState.REQUESTING_VERIFY_CODE: 1,
    AuthState.VERIFYING_CODE: 2,
    AuthState.CONNECTED: 3,
    AuthState.REQUESTING_PIC_CODE: 4,
    AuthState.VERIFYING_PIC_CODE: 5,
}
STATE_BY_NUMBER: dict[int, AuthState] = {number: state for state, number in STATUS_NUMBER.items()}


class AuthStateChanged(BusMessage, frozen=True, kw_only=True):
    event_id: str
    instance: str
    state: AuthState
    previous: AuthState | None = None
    reason: str = ""  # never a code, password or MD5
    ts_event: int


class AuthCommand(BusMessage, frozen=True, kw_only=True):
    op: str  # "status" | "init" | "verify_code"
    code: str | None = None  # verify code for op="verify_code"; validated ^[0-9A-Za-z]{3,12}$
    user: str = ""


class AuthReply(BusMessage, frozen=True, kw_only=True):
    ok: bool
    instance: str
    state: AuthState
    error: str = ""


AuthMessage = AuthStateChanged | AuthCommand | AuthReply
