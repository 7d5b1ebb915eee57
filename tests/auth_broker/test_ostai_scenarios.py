"""ostai's own integration scenarios (kaelzhang/docker-image-futuopend, ``test/integrated.test.js``),
replayed against the real broker with a mock OpenD that behaves as ostai's mock does
(``ostai_mock_opend.py``), configured only through ostai's variables, with the broker's default timings.

What ostai's tests check, and so what these check: the exact order of frames each client receives (its
client keeps one queue and compares frame after frame), the STATUS numbers, three login rounds driven by
an OpenD that exits 1.2 s after each start while ``FUTU_RETRY`` < 2 (ostai's test timeout is 10 s), a code
sent before INIT, the automatic start, and a command that cannot be started.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from broker_harness import BrokerLauncher, BrokerProcess, WsClient

CODE = "12345"  # the code ostai's tests send
OSTAI_TIMEOUT_S = 10.0


def starts(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


async def start(brokers: BrokerLauncher, tmp_path: Path, **env: str) -> tuple[BrokerProcess, Path]:
    record = tmp_path / "mock_starts.jsonl"
    return await brokers.start_ostai_mock(record, **env), record


async def expect_sequence(client: WsClient, types: list[str], who: str) -> None:
    for n, kind in enumerate(types):
        assert await client.next() == {"type": kind}, f"{who}: frame {n} should be {kind}; all: {client.frames}"


async def test_integrated_three_rounds_with_late_joiners_within_ostais_timeout(brokers: BrokerLauncher,
                                                                             tmp_path: Path) -> None:
    broker, record = await start(brokers, tmp_path)
    first = await broker.ws()
    assert await first.status() == -1  # ORIGIN: nothing started (FUTU_INIT_ON_START=no)
    began = asyncio.get_running_loop().time()
    await first.send({"type": "INIT"})
    late: list[asyncio.Task[None]] = []

    async def joiner(first_frame: str, who: str, ready: asyncio.Event) -> None:
        client = await broker.ws()
        await client.send({"type": "INIT"})  # ignored: OpenD is running
        ready.set()
        rounds = ["CLOSED", "REQUEST_CODE", "CONNECTED"] * 2
        head = [first_frame] + (["CONNECTED"] if first_frame == "REQUEST_CODE" else [])
        await expect_sequence(client, head + rounds, who)

    async def round_of_first(n: int) -> None:
        assert await first.next() == {"type": "REQUEST_CODE"}, f"round {n}: {first.frames}"
        if n == 1:  # a second client joins while the code is wanted (ostai's first client waits for it)
            await join("REQUEST_CODE", "second")
        await first.send({"type": "VERIFY_CODE", "code": CODE})
        assert await first.next() == {"type": "CONNECTED"}, f"round {n}: {first.frames}"
        if n == 1:  # a third joins once connected
            await join("CONNECTED", "third")

    async def join(first_frame: str, who: str) -> None:
        ready = asyncio.Event()
        late.append(asyncio.create_task(joiner(first_frame, who, ready)))
        await ready.wait()

    await round_of_first(1)
    for n in (2, 3):
        assert await first.next() == {"type": "CLOSED"}, first.frames
        await round_of_first(n)
    await asyncio.gather(*late)
    elapsed = asyncio.get_running_loop().time() - began
    assert elapsed < OSTAI_TIMEOUT_S, f"three rounds took {elapsed:.1f}s"
    # The last start saw FUTU_RETRY=2 and stays up; a code sent now (connected) changes nothing.
    assert [s["futu_retry"] for s in starts(record)] == [0, 1, 2]
    await first.send({"type": "VERIFY_CODE", "code": CODE})
    assert await first.status() == 3
    assert first.messages[-1] == {"type": "STATUS", "status": 3}
    argv = starts(record)[0]["argv"]
    assert "-login_account=test" in argv and "-login_pwd_md5=test" in argv and "-lang=en" in argv
    assert "-login_pwd_md5=test" not in broker.log_text()  # the MD5 is masked in the log


async def test_code_sent_before_init_logs_in_without_request_code(brokers: BrokerLauncher, tmp_path: Path) -> None:
    broker, record = await start(brokers, tmp_path, FUTU_RETRY="2")
    client = await broker.ws()
    await client.send({"type": "VERIFY_CODE", "code": CODE})
    assert await client.status() == -1
    await client.send({"type": "INIT"})
    assert await client.next() == {"type": "CONNECTED"}
    assert starts(record) == [{"argv": starts(record)[0]["argv"], "futu_retry": 2}]  # FUTU_RETRY kept, not reset


async def test_auto_init_starts_opend_without_a_client(brokers: BrokerLauncher, tmp_path: Path) -> None:
    broker, _ = await start(brokers, tmp_path, FUTU_RETRY="2", FUTU_INIT_ON_START="yes",
                            MOCK_OPEND_PROMPT_DELAY="2")  # slower than ostai's 0.1 s, so STATUS 0 is certain
    client = await broker.ws()
    assert await client.status() == 0
    await client.close()
    again = await broker.ws()  # ostai's client reconnects after idling; the code is still wanted
    assert await again.next(timeout=10) == {"type": "REQUEST_CODE"}


async def test_spawn_failure_sends_closed(brokers: BrokerLauncher, tmp_path: Path) -> None:
    not_executable = tmp_path / "common.js"
    not_executable.write_text("// not a program\n")
    broker, _ = await start(brokers, tmp_path, FUTU_CMD=str(not_executable), FUTU_SUPERVISE_PROCESS="no")
    client = await broker.ws()
    assert await client.status() == -1
    await client.send({"type": "INIT"})
    assert await client.next() == {"type": "CLOSED"}
    assert await client.status() == -2


async def test_spawn_failure_under_supervision_is_not_retried_in_a_loop(brokers: BrokerLauncher,
                                                                      tmp_path: Path) -> None:
    """ostai would respawn a command that cannot start at once, forever; the broker stops until INIT."""
    missing = tmp_path / "no-such-opend"
    broker, _ = await start(brokers, tmp_path, FUTU_CMD=str(missing))
    client = await broker.ws()
    await client.send({"type": "INIT"})
    assert await client.next() == {"type": "CLOSED"}
    await broker.wait_state("failed")
    assert await client.status() == -2
    failures = [e for e in broker.log_events() if e.get("event") == "opend could not be started"]
    assert len(failures) == 1
