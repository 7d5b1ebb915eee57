"""``tradebus verify-code CODE | init | status``: finish an OpenD login from any shell that reaches NATS.

Talks to auth_broker on ``auth.opend.<instance>.cmd`` (``AuthCommand`` → ``AuthReply``). After a code,
it follows ``auth.opend.<instance>.state`` until OpenD is CONNECTED (exit 0) or asks for a code again
(exit 1: the code was refused), so the operator knows at once whether the login went through.
Exit codes: 0 done, 1 refused / not connected in time, 2 usage or configuration, 3 bus unreachable or no
broker answering.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import msgspec

from tradebus.bus import Bus, RequestFailed, RequestTimeout, connect
from tradebus.cli.bus_access import with_operator_credentials
from tradebus.config import load_or_exit
from tradebus.opend_gate import opend_states
from tradebus.schemas import AUTH_DECODER
from tradebus.schemas.auth import STATUS_NUMBER, AuthCommand, AuthReply, AuthState
from tradebus.subjects import auth_cmd

OPS = {"init": "init", "status": "status"}
AFTER_CODE_DONE = {AuthState.CONNECTED: 0, AuthState.REQUESTING_VERIFY_CODE: 1, AuthState.FAILED: 1,
                   AuthState.CLOSED: 1, AuthState.REQUESTING_PIC_CODE: 1}


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tradebus verify-code",
        description="send an OpenD verify code to auth_broker (or: init, status)")
    parser.add_argument("what", metavar="CODE|init|status", help="the SMS (or picture) code, or init / status")
    parser.add_argument("--nats-url", help="NATS server (default: [nats] url)")
    parser.add_argument("--instance", help="auth_broker instance (default: [auth] instance)")
    parser.add_argument("--wait", type=float, default=30.0,
                        help="after a code, seconds to wait for CONNECTED (0: do not wait)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the broker's answer")
    return parser.parse_args(argv)


def _describe(state: AuthState) -> str:
    number = STATUS_NUMBER.get(state, -2)
    return f"{state.value} (STATUS {number})"


async def _wait_outcome(bus: Bus, instance: str, after: AuthState, wait: float) -> int:
    async def outcome() -> int:
        async for state in opend_states(bus, instance):
            if after is AuthState.VERIFYING_PIC_CODE and state is AuthState.REQUESTING_VERIFY_CODE:
                print("picture code accepted; OpenD now asks for the SMS code: tradebus verify-code CODE")
                return 0
            if state in AFTER_CODE_DONE:
                print(f"OpenD {_describe(state)}")
                return AFTER_CODE_DONE[state]
        return 1

    try:
        return await asyncio.wait_for(outcome(), wait)
    except TimeoutError:
        print(f"no login result within {wait:g}s; check with: tradebus verify-code status", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, config_path: str | None) -> int:
    config = load_or_exit(config_path)
    if args.nats_url:
        config = msgspec.structs.replace(config, nats=msgspec.structs.replace(config.nats, url=args.nats_url))
    config = with_operator_credentials(config)  # the local `tradebus up` bus, when that is where we talk
    nats_cfg = msgspec.structs.replace(config.nats, max_reconnect_attempts=0, connect_timeout_s=3.0)
    instance = args.instance or config.auth.instance
    op = OPS.get(args.what.lower(), "verify_code")
    code = None if op != "verify_code" else args.what
    try:
        bus = await connect(nats_cfg, "tradebus-verify-code")
    except Exception as exc:
        print(f"tradebus verify-code: cannot reach NATS at {nats_cfg.url}: {exc or type(exc).__name__}",
              file=sys.stderr)
        return 3
    try:
        try:
            reply = await bus.request(auth_cmd(instance), AuthCommand(op=op, code=code, user="cli"), AUTH_DECODER,
                                      timeout=args.timeout)
        except (RequestFailed, RequestTimeout) as exc:
            print(f"tradebus verify-code: no auth_broker answered for instance {instance!r}: {exc}", file=sys.stderr)
            return 3
        if not isinstance(reply, AuthReply):
            print("tradebus verify-code: unexpected answer from auth_broker", file=sys.stderr)
            return 3
        if not reply.ok:
            print(f"refused: {reply.error} (OpenD {_describe(reply.state)})", file=sys.stderr)
            return 1
        if op == "status":
            print(f"OpenD {_describe(reply.state)}")
            return 0 if reply.state is AuthState.CONNECTED else 1
        if op == "init":
            print(f"INIT accepted; OpenD {_describe(reply.state)}")
            return 0
        print(f"code delivered; OpenD {_describe(reply.state)}")
        if args.wait <= 0:
            return 0
        return await _wait_outcome(bus, instance, reply.state, args.wait)
    finally:
        await bus.close()


def verify_code_main(argv: list[str], config_path: str | None) -> int:
    args = _parse(argv)
    return asyncio.run(_run(args, config_path))
