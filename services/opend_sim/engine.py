"""The login state machine and the operation-command handlers of the simulated OpenD.

One :class:`OpenDEngine` per process. It prints login progress on the console (which the telnet
sessions mirror) and answers each command to the channel that sent it. Delays and rate-limit
windows are real OpenD-like durations divided by ``OPEND_SIM_SPEED`` so tests can run a whole
login in milliseconds while ``tradebus up`` looks like the real thing.

Choices where the public record is silent (docs/auth_broker.md, 'Known limits'):

* In the manual SMS style a code typed before ``req_phone_verify_code`` is still checked: brokers
  modelled on Kael's image answer the ``req_phone_verify_code`` tip with a code straight away.
* A refused ``req_phone_verify_code`` (too frequent) does not use up the 1-per-60-s allowance; the
  automatic request OpenD makes at login does.
* Commands in a phase where they make no sense answer "Command not available during the current
  period"; the phase is checked before the rate limit, so such calls do not count.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import sys
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any

from opend_sim import state_dir
from opend_sim.commands import COMMANDS, CommandLine, help_lines, parse_command
from opend_sim.console import Console
from opend_sim.options import Options, password_md5
from opend_sim.ratelimit import SlidingWindow
from opend_sim.scenarios import AfterLogin, LoginEnd, Scenario, SmsStyle
from opend_sim.state_dir import GtwLog
from opend_sim.texts import T, text

Reply = Callable[[str], None]

CRASH_EXIT_CODE = 3  # what Kael's mock OpenD uses for a crash (docs/auth_broker.md, 'ostai's own behaviour')
FAILED_EXIT_CODE = 1


class Phase(StrEnum):
    STARTING = "starting"
    LOGGING_IN = "logging_in"
    NEED_PIC = "need_pic"
    VERIFYING_PIC = "verifying_pic"
    NEED_PHONE = "need_phone"
    VERIFYING_PHONE = "verifying_phone"
    LOGGED_IN = "logged_in"
    FORCED_OUT = "forced_out"
    FAILED = "failed"


# Phase -> the GetGlobalState ProgramStatusType name written to the GTW log (docs/auth_broker.md, 'State folder').
PROGRAM_STATUS: dict[Phase, str] = {
    Phase.STARTING: "ProgramStatusType_Loaded",
    Phase.LOGGING_IN: "ProgramStatusType_Loging",
    Phase.NEED_PIC: "ProgramStatusType_NeedPicVerifyCode",
    Phase.VERIFYING_PIC: "ProgramStatusType_Loging",
    Phase.NEED_PHONE: "ProgramStatusType_NeedPhoneVerifyCode",
    Phase.VERIFYING_PHONE: "ProgramStatusType_Loging",
    Phase.LOGGED_IN: "ProgramStatusType_Ready",
    Phase.FORCED_OUT: "ProgramStatusType_ForceLogout",
    Phase.FAILED: "ProgramStatusType_LoginFailed",
}

# Where each phase-bound command is allowed; commands not listed are allowed everywhere.
ALLOWED_PHASES: dict[str, frozenset[Phase]] = {
    "req_phone_verify_code": frozenset({Phase.NEED_PHONE}),
    "input_phone_verify_code": frozenset({Phase.NEED_PHONE}),
    "req_pic_verify_code": frozenset({Phase.NEED_PIC}),
    "input_pic_verify_code": frozenset({Phase.NEED_PIC}),
    "relogin": frozenset({Phase.LOGGED_IN, Phase.NEED_PHONE, Phase.NEED_PIC, Phase.FORCED_OUT}),
    "ping": frozenset({Phase.LOGGED_IN}),
    "request_highest_quote_right": frozenset({Phase.LOGGED_IN}),
    "close_api_conn": frozenset({Phase.LOGGED_IN}),
    "show_delay_report": frozenset({Phase.LOGGED_IN}),
}


# Phase -> the line that describes it to API clients refused before the login completes.
_STATUS_TEXT: dict[Phase, T] = {
    Phase.NEED_PIC: T.PIC_NEEDED,
    Phase.VERIFYING_PIC: T.PIC_VERIFYING,
    Phase.NEED_PHONE: T.PHONE_NEEDED,
    Phase.VERIFYING_PHONE: T.PHONE_VERIFYING,
    Phase.FORCED_OUT: T.FORCE_LOGOUT,
    Phase.FAILED: T.LOGIN_FAILED,
}


@dataclass(frozen=True, slots=True)
class Delays:
    """Seconds at ``OPEND_SIM_SPEED=1``."""

    login_start: float = 0.3
    login_result: float = 1.2
    network_fail: float = 5.0
    sms_request: float = 0.8
    verify: float = 1.0
    crash_after: float = 3.0
    force_logout_after: float = 5.0
    disclaimer_after: float = 0.3

    def scaled(self, speed: float) -> Delays:
        return replace(self, **{f.name: getattr(self, f.name) / speed for f in fields(self)})


class OpenDEngine:
    def __init__(self, opts: Options, scenario: Scenario, console: Console, gtw: GtwLog) -> None:
        self._opts = opts
        self._scenario = scenario
        self._console = console
        self._gtw = gtw
        self._delays = Delays().scaled(opts.speed)
        self._limits = {
            name: SlidingWindow(spec.limit[0], spec.limit[1] / opts.speed)
            for name, spec in COMMANDS.items()
            if spec.limit is not None
        }
        self._pwd_md5 = opts.pwd_md5
        self._pwd_malformed = opts.pwd_md5_malformed
        self._phase = Phase.STARTING
        self._logged_in = False
        self._pic_passed = False
        self._sms_refused = False  # the last SMS request was refused as too frequent
        self._after_login_armed = True
        self._flow: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._handlers: dict[str, Callable[[CommandLine, Reply], None]] = {
            "help": self._cmd_help,
            "exit": self._cmd_exit,
            "req_phone_verify_code": self._cmd_req_phone,
            "input_phone_verify_code": self._cmd_input_phone,
            "req_pic_verify_code": self._cmd_req_pic,
            "input_pic_verify_code": self._cmd_input_pic,
            "relogin": self._cmd_relogin,
            "ping": self._cmd_ping,
            "show_delay_report": self._canned(T.DELAY_REPORT),
            "close_api_conn": self._cmd_close_api_conn,
            "show_sub_info": self._cmd_show_sub_info,
            "request_highest_quote_right": self._canned(T.QUOTE_RIGHT),
            "update": self._canned(T.UPDATE_LATEST),
        }

    # ----------------------------------------------------------------- public surface
    @property
    def delays(self) -> Delays:
        return self._delays

    @property
    def phase(self) -> Phase:
        return self._phase

    def is_logged_in(self) -> bool:
        return self._logged_in

    def login_status_text(self) -> str:
        """What API clients are told while the login is not complete ("" once it is)."""
        if self._phase is Phase.LOGGED_IN:
            return ""
        if self._phase is Phase.NEED_PHONE and self._sms_refused:
            return f"{self.text(T.PHONE_NEEDED)},{self.text(T.PHONE_TOO_FREQUENT)}"
        return self.text(_STATUS_TEXT.get(self._phase, T.LOGGING_IN))

    def say(self, key: T, **values: object) -> None:
        self._console.print(self.text(key, **values))

    def text(self, key: T, **values: object) -> str:
        return text(self._opts.lang, key, **values)

    def request_exit(self, code: int) -> None:
        if not self._exit.done():
            self._exit.set_result(code)

    async def wait_exit(self) -> int:
        return await self._exit

    def start_login(self) -> None:
        self._run_flow(self._login())

    async def close(self) -> None:
        pending = [t for t in (*self._tasks, self._flow) if t is not None and not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def handle_line(self, line: str, reply: Reply) -> None:
        command = parse_command(line)
        if command is None:
            return
        handler = self._handlers.get(command.name)
        if handler is None:
            reply(self.text(T.UNKNOWN_COMMAND))
            return
        allowed = ALLOWED_PHASES.get(command.name)
        if allowed is not None and self._phase not in allowed:
            reply(self.text(T.NOT_NOW))
            return
        limiter = self._limits.get(command.name)
        if limiter is not None and not limiter.try_acquire():
            if command.name == "req_phone_verify_code":
                self._sms_refused = True
                reply(self.text(T.PHONE_TOO_FREQUENT))
            else:
                reply(self.text(T.TOO_FREQUENT))
            return
        handler(command, reply)

    # ----------------------------------------------------------------- tasks
    def _run_flow(self, coro: Coroutine[Any, Any, None]) -> None:
        """The login flow is one task at a time; a relogin replaces whatever step was running."""
        if self._flow is not None and not self._flow.done():
            self._flow.cancel()
        self._flow = self._watch(asyncio.get_running_loop().create_task(coro))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._watch(asyncio.get_running_loop().create_task(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _watch(self, task: asyncio.Task[None]) -> asyncio.Task[None]:
        task.add_done_callback(self._on_task_done)
        return task

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        traceback.print_exception(exc, file=sys.stderr)
        self.request_exit(FAILED_EXIT_CODE)

    def _set_phase(self, phase: Phase) -> None:
        self._phase = phase
        self._logged_in = phase is Phase.LOGGED_IN
        self._gtw.write(PROGRAM_STATUS[phase])

    # ----------------------------------------------------------------- login flow
    async def _login(self) -> None:
        self._set_phase(Phase.LOGGING_IN)
        self.say(T.LOGIN_METHOD)
        self.say(T.LOGGING_IN)
        end = self._scenario.end
        if end is LoginEnd.HANG:
            return  # banner only, never a result: the broker's start timeout must fire
        await asyncio.sleep(self._delays.network_fail if end is LoginEnd.FAIL_NETWORK else self._delays.login_result)
        if not self._opts.login_account or (not self._pwd_md5 and not self._pwd_malformed):
            self._fail(T.FAIL_EMPTY)
        elif self._pwd_malformed or end is LoginEnd.FAIL_PASSWORD:
            self._fail(T.FAIL_PASSWORD)
        elif end is LoginEnd.FAIL_NETWORK:
            self._fail(T.FAIL_NETWORK)
        elif end is LoginEnd.FAIL_MOOMOO_ID:
            self._fail(T.FAIL_MOOMOO_ID)
        elif self._scenario.pic_first and not self._pic_passed:
            self._need_pic()
        elif self._scenario.force_sms or not state_dir.device_trusted(self._opts.state_dir):
            await self._need_phone(self._scenario.sms_style)
        else:
            self._complete_login()

    def _fail(self, reason: T) -> None:
        self._set_phase(Phase.FAILED)
        self.say(reason)
        self.say(T.LOGIN_FAILED)
        self.say(T.EXITED)
        self.request_exit(FAILED_EXIT_CODE)

    def _need_pic(self) -> None:
        self._set_phase(Phase.NEED_PIC)
        self.say(T.PIC_NEEDED)
        self._show_new_pic()

    def _show_new_pic(self) -> None:
        path = state_dir.write_pic_code(self._opts.state_dir)
        self.say(T.PIC_DOWNLOADED, path=path)
        self.say(T.TIPS_INPUT_PIC)

    async def _need_phone(self, style: SmsStyle) -> None:
        if style is SmsStyle.MANUAL:
            self._set_phase(Phase.NEED_PHONE)
            self.say(T.PHONE_NEEDED)
            self.say(T.TIPS_REQ_PHONE)
            return
        # OpenD requests the SMS itself; that request uses up the 1-per-60-s allowance.
        self._limits["req_phone_verify_code"].try_acquire()
        self.say(T.PHONE_REQUESTING)
        await asyncio.sleep(self._delays.sms_request)
        self._set_phase(Phase.NEED_PHONE)
        self._sms_refused = style is SmsStyle.AUTO_RATE_LIMITED
        if self._sms_refused:
            self.say(T.PHONE_TOO_FREQUENT)
            self.say(T.TIPS_REQ_PHONE)
        else:
            self.say(T.PHONE_REQUESTED)
            self.say(T.TIPS_INPUT_PHONE)

    def _complete_login(self) -> None:
        state_dir.trust_device(self._opts.state_dir)
        self._set_phase(Phase.LOGGED_IN)
        self.say(T.LOGIN_OK)
        if self._after_login_armed and self._scenario.after_login is not AfterLogin.NOTHING:
            self._after_login_armed = False  # the scripted event happens once per process
            self._spawn(self._after_login(self._scenario.after_login))

    async def _after_login(self, event: AfterLogin) -> None:
        if event is AfterLogin.CRASH:
            await asyncio.sleep(self._delays.crash_after)
            self._logged_in = False
            os._exit(CRASH_EXIT_CODE)  # a crash: no goodbye line, sockets die with the process
        elif event is AfterLogin.DISCLAIMER:
            await asyncio.sleep(self._delays.disclaimer_after)
            self._fail(T.DISCLAIMER)
        elif event is AfterLogin.FORCE_LOGOUT:
            await asyncio.sleep(self._delays.force_logout_after)
            if self._phase is not Phase.LOGGED_IN:
                return
            self._set_phase(Phase.FORCED_OUT)
            self.say(T.FORCE_LOGOUT)
            self._run_flow(self._need_phone(SmsStyle.MANUAL))

    async def _verify_phone(self, code: str) -> None:
        self._set_phase(Phase.VERIFYING_PHONE)
        self.say(T.PHONE_VERIFYING)
        await asyncio.sleep(self._delays.verify)
        if secrets.compare_digest(code.encode(), self._opts.verify_code.encode()):
            self._complete_login()
            return
        self._set_phase(Phase.NEED_PHONE)
        self.say(T.PHONE_WRONG)
        if self._scenario.reprompt_on_wrong_code:
            self.say(T.TIPS_INPUT_PHONE)

    async def _verify_pic(self, code: str) -> None:
        self._set_phase(Phase.VERIFYING_PIC)
        self.say(T.PIC_VERIFYING)
        await asyncio.sleep(self._delays.verify)
        if secrets.compare_digest(code.encode(), self._opts.pic_verify_code.encode()):
            self._pic_passed = True
            await self._need_phone(self._scenario.sms_style)
            return
        self._set_phase(Phase.NEED_PIC)
        self.say(T.PIC_WRONG)
        self._show_new_pic()

    # ----------------------------------------------------------------- command handlers
    def _cmd_help(self, command: CommandLine, reply: Reply) -> None:
        only = command.params.get("cmd")
        if only is not None and only not in COMMANDS:
            reply(self.text(T.UNKNOWN_COMMAND))
            return
        if only is None:
            reply(self.text(T.HELP_HEADER))
        for line in help_lines(self._opts.lang, only):
            reply(line)

    def _cmd_exit(self, command: CommandLine, reply: Reply) -> None:
        self.say(T.EXITED)
        self.request_exit(0)

    def _cmd_req_phone(self, command: CommandLine, reply: Reply) -> None:
        self._sms_refused = False
        reply(self.text(T.PHONE_REQUESTED))
        reply(self.text(T.TIPS_INPUT_PHONE))

    def _cmd_input_phone(self, command: CommandLine, reply: Reply) -> None:
        code = command.params.get("code", "")
        if not code:
            reply(self.text(T.BAD_PARAM, detail="-code"))
            return
        self._run_flow(self._verify_phone(code))

    def _cmd_req_pic(self, command: CommandLine, reply: Reply) -> None:
        self._show_new_pic()

    def _cmd_input_pic(self, command: CommandLine, reply: Reply) -> None:
        code = command.params.get("code", "")
        if not code:
            reply(self.text(T.BAD_PARAM, detail="-code"))
            return
        self._run_flow(self._verify_pic(code))

    def _cmd_relogin(self, command: CommandLine, reply: Reply) -> None:
        # Same account; a new password may be given, otherwise the startup one is used
        # (docs/auth_broker.md, 'Operation commands').
        md5_text = command.params.get("login_pwd_md5")
        plain = command.params.get("login_pwd")
        if md5_text is not None or plain is not None:
            self._pwd_md5, self._pwd_malformed = password_md5(md5_text or "", plain or "")
        self._logged_in = False
        self._run_flow(self._login())

    def _cmd_ping(self, command: CommandLine, reply: Reply) -> None:
        reply(self.text(T.PING, ms=random.randint(18, 60)))

    def _cmd_close_api_conn(self, command: CommandLine, reply: Reply) -> None:
        reply(self.text(T.CONN_CLOSED, count=0))

    def _cmd_show_sub_info(self, command: CommandLine, reply: Reply) -> None:
        # Before login OpenD's telnet answers carry the login state (greenmtnboy's scraper relies on it).
        state_lines = {
            Phase.NEED_PHONE: [T.PHONE_NEEDED, T.TIPS_INPUT_PHONE],
            Phase.NEED_PIC: [T.PIC_NEEDED, T.TIPS_INPUT_PIC],
            Phase.LOGGING_IN: [T.LOGGING_IN],
            Phase.VERIFYING_PHONE: [T.PHONE_VERIFYING],
            Phase.VERIFYING_PIC: [T.PIC_VERIFYING],
            Phase.FORCED_OUT: [T.FORCE_LOGOUT],
        }.get(self._phase, [T.NO_SUB])
        for key in state_lines:
            reply(self.text(key))

    def _canned(self, key: T) -> Callable[[CommandLine, Reply], None]:
        def handler(command: CommandLine, reply: Reply) -> None:
            reply(self.text(key))

        return handler
