"""A moving-average cross on 1-minute bars with tradebus.client.

Long ``--lots`` board lots (stocks) or contracts (futures) while the fast average of the closes is above
the slow one, flat (stocks) or short (futures) otherwise. History warms the averages up, then each new
1-minute bar re-evaluates; TargetPosTask turns the wanted position into orders with the venue's rules.

    TRADEBUS_USER=alice TRADEBUS_PASSWORD=... python examples/python/ma_cross.py \\
        --symbol futu.HK.00700 --account futu:281756457 --lots 100

``--bars N`` stops after N live bars (0: act on history once and stop); ``--flat-at-exit`` closes the
position before leaving.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os

from tradebus.client import Client


def average(values: list[float], n: int) -> float:
    return sum(values[-n:]) / n


def wanted(closes: list[float], fast: int, slow: int, lots: int, can_short: bool) -> int:
    if len(closes) < slow:
        return 0
    if average(closes, fast) > average(closes, slow):
        return lots
    return -lots if can_short else 0


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def run(args: argparse.Namespace) -> None:
    url = os.environ.get("TRADEBUS_NATS_URL", "nats://127.0.0.1:4222")
    async with await Client.connect(url, os.environ["TRADEBUS_USER"], os.environ["TRADEBUS_PASSWORD"]) as client:
        series = await client.bars(args.symbol, "1m", args.slow * 2)
        quote = await client.quote(args.symbol)
        if quote.tick is None:
            await quote.wait_update(timeout=30)
        account = await client.account(args.account)
        task = client.target_pos(account, quote)
        can_short = args.symbol.startswith("ctp.")
        seen = 0
        while True:
            closes = series.closes()
            target = wanted(closes, args.fast, args.slow, args.lots, can_short)
            say(event="signal", bars=len(closes), fast=round(average(closes, args.fast), 4),
                slow=round(average(closes, args.slow), 4), target=target)
            held = await task.set_target(target)
            say(event="position", symbol=args.symbol, net=await account.net_position(args.symbol), target=held)
            if seen >= args.bars:
                break
            await series.wait_update(timeout=120)
            seen += 1
        if args.flat_at_exit:
            await task.set_target(0)
            say(event="flat", net=await account.net_position(args.symbol))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbol", default="ctp.SHFE.rb2601")
    parser.add_argument("--account", default="ctp:000001")
    parser.add_argument("--fast", type=int, default=5)
    parser.add_argument("--slow", type=int, default=20)
    parser.add_argument("--lots", type=int, default=1)
    parser.add_argument("--bars", type=int, default=0)
    parser.add_argument("--flat-at-exit", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
