"""``tradebus tail SUBJECT``: decoded bus messages, one JSON object per line.

Each line is ``{"subject": …, "data": …}`` with ``data`` validated against the subject family's schema
(so what you see is what a service would accept); a payload that does not decode is shown with an
``error`` instead of being dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import msgspec
from nats.aio.msg import Msg

from tradebus.bus import connect
from tradebus.cli.bus_access import with_operator_credentials
from tradebus.config import Config, load_or_exit
from tradebus.schemas import decoder_for_subject

_encoder = msgspec.json.Encoder()


def render(subject: str, data: bytes) -> bytes:
    decoder = decoder_for_subject(subject)
    if decoder is None:
        try:
            return _encoder.encode({"subject": subject, "data": msgspec.json.decode(data)})
        except msgspec.DecodeError:
            return _encoder.encode({"subject": subject, "raw": data.decode("utf-8", "replace")})
    try:
        return _encoder.encode({"subject": subject, "data": decoder.decode(data)})
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return _encoder.encode({"subject": subject, "error": str(exc), "raw": data.decode("utf-8", "replace")})


async def tail(config: Config, subject: str, count: int | None, duration: float | None) -> int:
    bus = await connect(config.nats, "tradebus-tail")
    done = asyncio.Event()
    seen = 0
    out = sys.stdout.buffer

    async def on_message(msg: Msg) -> None:
        nonlocal seen
        if done.is_set():
            return
        out.write(render(msg.subject, msg.data) + b"\n")
        out.flush()
        seen += 1
        if count is not None and seen >= count:
            done.set()

    try:
        await bus.nc.subscribe(subject, cb=on_message)
        try:
            await asyncio.wait_for(done.wait(), duration)
        except TimeoutError:
            pass
    finally:
        await bus.close()
    return 0 if count is None or seen >= count else 1


def tail_main(argv: list[str], config_path: str | None) -> int:
    parser = argparse.ArgumentParser(prog="tradebus tail", description="print decoded bus messages as JSON lines")
    parser.add_argument("subject", help="NATS subject, wildcards allowed: 'md.tick.>', 'sys.>'")
    parser.add_argument("-n", "--count", type=int, help="stop after this many messages (exit 1 if fewer came)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--nats-url", help="default: [nats] url")
    args = parser.parse_args(argv)
    config = load_or_exit(config_path)
    if args.nats_url:
        config = msgspec.structs.replace(config, nats=msgspec.structs.replace(config.nats, url=args.nats_url))
    config = with_operator_credentials(config)
    try:
        return asyncio.run(tail(config, args.subject, args.count, args.duration))
    except KeyboardInterrupt:
        return 0
    except (OSError, TimeoutError) as exc:
        print(f"tradebus tail: cannot connect to NATS at {config.nats.url}: {exc}", file=sys.stderr)
        return 1
