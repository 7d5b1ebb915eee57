"""Drive the real ``python -m opend_sim`` process: stdin/stdout pipes plus a telnet client.

Every process a test starts is killed by pid in the fixture's teardown, whatever the test did.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# Delays and rate-limit windows are divided by this: a 60 s window lasts 3 s, a login ~0.1 s.
TEST_SPEED = "20"
LINE_TIMEOUT = 10.0

_PORT_IN_LINE = re.compile(r"(?:Telnet listening address|Telnet监听地址): [0-9.]+:(\d+)")
_API_PORT_IN_LINE = re.compile(r"(?:API listening address|API监听地址): [0-9.]+:(\d+)")


def normalise(raw: bytes) -> str:
    """One console line as a parser should see it: no CR, no ``>>>`` prompt, no padding."""
    text = raw.decode("utf-8").replace("\r", "")
    while text.startswith(">>>"):
        text = text[3:]
    return text.rstrip()


class TelnetClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, encoding: str) -> None:
        self.reader = reader
        self.writer = writer
        self.encoding = encoding
        self.lines: list[str] = []

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, command: str) -> None:
        await self.send_raw(command.encode(self.encoding) + b"\r\n")

    async def read_line(self, timeout: float = LINE_TIMEOUT) -> str:
        raw = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), timeout)
        line = raw[:-2].decode(self.encoding)
        self.lines.append(line)
        return line

    async def expect(self, needle: str, timeout: float = LINE_TIMEOUT) -> str:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"telnet: {needle!r} not seen; got {self.lines[-20:]}")
            line = await self.read_line(remaining)
            if needle in line:
                return line

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class OpenDProcess:
    """One running opend_sim. ``channel`` says how :meth:`send` delivers operation commands: on stdin,
    or as CRLF lines over the telnet port (both reach the same OpenD command handler)."""

    def __init__(self, proc: asyncio.subprocess.Process, state_dir: Path, channel: str = "stdin",
                 lang: str = "en") -> None:
        self.proc = proc
        self.lang = lang
        self.state_dir = state_dir
        self.channel = channel
        self._command_telnet: TelnetClient | None = None
        self.lines: list[str] = []
        self.raw = bytearray()
        self.stderr = bytearray()
        self.telnet_port: int | None = None
        self.api_port: int | None = None
        self._stderr_task = asyncio.get_running_loop().create_task(self._drain_stderr())

    async def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(4096):
            self.stderr.extend(chunk)

    async def read_line(self, timeout: float = LINE_TIMEOUT) -> str:
        """The next line the operator sees: on the telnet session once commands go there, else the console."""
        if self._command_telnet is not None:
            return await self._command_telnet.read_line(timeout)
        return await self._read_console_line(timeout)

    async def _read_console_line(self, timeout: float = LINE_TIMEOUT) -> str:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            raise EOFError(f"console closed; last lines: {self.lines[-20:]}; stderr: {self.stderr.decode()}")
        self.raw.extend(raw)
        line = normalise(raw)
        self.lines.append(line)
        if match := _PORT_IN_LINE.search(line):
            self.telnet_port = int(match.group(1))
        if match := _API_PORT_IN_LINE.search(line):
            self.api_port = int(match.group(1))
        return line

    async def expect(self, needle: str, timeout: float = LINE_TIMEOUT) -> str:
        """Read lines until one contains ``needle``; fail at the deadline.

        Once commands go over telnet, read the telnet session like an operator attached there would:
        it carries the replies to our commands plus a copy of everything the console prints.
        """
        if self._command_telnet is not None:
            return await self._command_telnet.expect(needle, timeout)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"{needle!r} not seen; last lines: {self.lines[-20:]}")
            try:
                line = await self._read_console_line(remaining)
            except TimeoutError:
                raise AssertionError(f"{needle!r} not seen; last lines: {self.lines[-20:]}") from None
            if needle in line:
                return line

    async def lines_for(self, seconds: float) -> list[str]:
        """Every line printed within ``seconds`` (used to prove that something does NOT happen)."""
        seen: list[str] = []
        deadline = asyncio.get_running_loop().time() + seconds
        read = self.read_line
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                seen.append(await read(remaining))
            except (TimeoutError, EOFError):
                break
        return seen

    async def send(self, command: str, end: str = "\n") -> None:
        if self.channel == "telnet":
            if self._command_telnet is None:
                # OpenD answers telnet in GB18030 when its language is Chinese (the official sample decodes gb2312).
                self._command_telnet = await self.telnet("gb18030" if self.lang == "chs" else "utf-8")
            await self._command_telnet.send(command)
            return
        assert self.proc.stdin is not None
        self.proc.stdin.write((command + end).encode())
        await self.proc.stdin.drain()

    async def telnet(self, encoding: str = "utf-8") -> TelnetClient:
        if self.telnet_port is None:
            await self.expect("elnet")
        assert self.telnet_port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", self.telnet_port)
        return TelnetClient(reader, writer, encoding)

    async def wait_exit(self, timeout: float = LINE_TIMEOUT) -> int:
        """Drain the console to EOF and return the exit code."""
        assert self.proc.stdout is not None
        rest = await asyncio.wait_for(self.proc.stdout.read(), timeout)
        self.raw.extend(rest)
        for raw in rest.split(b"\n"):
            if line := normalise(raw):
                self.lines.append(line)
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.wait_for(self._stderr_task, timeout)
        return code

    def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, 9)


class OpenDLauncher:
    def __init__(self, tmp_path: Path, channel: str = "stdin") -> None:
        self._tmp_path = tmp_path
        self.channel = channel
        self.started: list[OpenDProcess] = []

    async def start(
        self,
        scenario: str = "ok",
        *args: str,
        lang: str = "en",
        state_dir: Path | None = None,
        env: dict[str, str] | None = None,
        account: str | None = "12345678",
        password: str | None = "s3cret-Passw0rd",
        api_port: str = "0",
    ) -> OpenDProcess:
        state = state_dir if state_dir is not None else self._tmp_path / "state"
        argv = [sys.executable, "-m", "opend_sim", f"-lang={lang}", f"-api_port={api_port}", "-telnet_port=0"]
        if account is not None:
            argv.append(f"-login_account={account}")
        if password is not None:
            argv.append(f"-login_pwd={password}")
        argv += ["--scenario", scenario, "--state-dir", str(state), *args]
        full_env = {**os.environ, "OPEND_SIM_SPEED": TEST_SPEED, **(env or {})}
        full_env.pop("OPEND_SIM_SCENARIO", None)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=full_env,
        )
        opend = OpenDProcess(proc, state, self.channel, lang)
        self.started.append(opend)
        return opend

    async def stop_all(self) -> None:
        for opend in self.started:
            if opend._command_telnet is not None:
                await opend._command_telnet.close()
            opend.kill()
            with contextlib.suppress(TimeoutError, ProcessLookupError):
                await asyncio.wait_for(opend.proc.wait(), 5)


@pytest.fixture
async def opend(tmp_path: Path) -> AsyncIterator[OpenDLauncher]:
    launcher = OpenDLauncher(tmp_path)
    try:
        yield launcher
    finally:
        await launcher.stop_all()
