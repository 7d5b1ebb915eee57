"""A minimal service on the shared runtime, run as a real process by test_runtime.py.

It answers ``example.echo`` requests, counts them in /metrics, reports a health check that a request
can break, and takes a configurable time to stop (to test the stop budget).
"""

from __future__ import annotations

import asyncio
import os

from nats.aio.msg import Msg

from tradebus.config import Config
from tradebus.logs import get_logger
from tradebus.runtime import Service, run_service

log = get_logger("example")


class ExampleService(Service):
    name = "example"

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.echoes = self.metrics.counter("echo_requests_total", "echo requests answered")
        self.broken = False

    async def start(self) -> None:
        await self.bus.serve("example.echo", self._echo)
        await self.bus.serve("example.break", self._break)

    async def _echo(self, msg: Msg) -> None:
        self.echoes.inc()
        log.info("echo", password="must-not-appear-0451")
        await self.bus.nc.publish(msg.reply, msg.data)

    async def _break(self, msg: Msg) -> None:
        self.broken = True
        await self.bus.nc.publish(msg.reply, b"ok")

    def checks(self) -> dict[str, str]:
        return {"venue": "down: test asked" if self.broken else "ok"}

    async def stop(self) -> None:
        await asyncio.sleep(float(os.environ.get("EXAMPLE_STOP_DELAY", "0")))  # simulated slow cleanup


if __name__ == "__main__":
    run_service(ExampleService, name="example")
