"""What ctp_sim's persistence costs per order as the day grows: the time of ``Front._flush`` after
each ``ReqOrderInsert`` (the front writes the day's changes there before any answer leaves).

In-process, one investor, resting buys of rb2601 (each an order, an acceptance and two private-flow
messages); prints the flush's p50/p99/max per band of orders. Runs against whichever ctp_sim the
tree holds, so the same command measures before and after a change.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ctp_sim.config import FrontConfig
from ctp_sim.server import Front
from tradebus.ctp.wire import Frame

USER, PASSWORD, BROKER = "000001", "123456", "9999"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--band", type=int, default=200, help="orders per reported band")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        front = Front(FrontConfig(state_dir=Path(tmp), app_id=""))
        frames: list[Frame] = []
        session = front.broker.connect(frames.append, "bench")
        for rid, (op, body) in enumerate([
            ("ReqUserLogin", {"BrokerID": BROKER, "UserID": USER, "Password": PASSWORD}),
            ("ReqSettlementInfoConfirm", {"BrokerID": BROKER, "InvestorID": USER}),
        ], start=1):
            front.broker.handle(session, Frame(kind="req", op=op, rid=rid, body=body))
            front._flush()
        lower = front.market.quote("SHFE", "rb2601").lower_limit
        costs: list[float] = []
        for i in range(args.orders):
            front.broker.handle(session, Frame(kind="req", op="ReqOrderInsert", rid=10 + i, body={
                "BrokerID": BROKER, "InvestorID": USER, "UserID": USER, "InstrumentID": "rb2601",
                "ExchangeID": "SHFE", "OrderRef": str(i + 1), "Direction": "0", "CombOffsetFlag": "0",
                "CombHedgeFlag": "1", "OrderPriceType": "2", "LimitPrice": lower, "VolumeTotalOriginal": 1,
                "TimeCondition": "3", "VolumeCondition": "1", "ContingentCondition": "1", "ForceCloseReason": "0",
            }))
            t0 = time.perf_counter()
            front._flush()
            costs.append((time.perf_counter() - t0) * 1000)
            frames.clear()
        print(f"{'orders':>12} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for start in range(0, len(costs), args.band):
            band = sorted(costs[start:start + args.band])
            p99 = band[min(len(band) - 1, int(len(band) * 0.99))]
            print(f"{start + 1:>5}-{start + len(band):<6} {statistics.median(band):8.3f} {p99:8.3f} {band[-1]:8.3f}")


if __name__ == "__main__":
    main()
