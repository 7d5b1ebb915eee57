"""One OpenD child in a pseudo-terminal, as ostai runs it (node-pty, 80x30), with echo turned off.

* **A pty, not pipes**: OpenD's console is interactive (10.10 prompts for credentials) and reads
  commands typed at it; lqepoch notes that a 0x0 pty makes OpenD read empty lines, so the window
  size is set.
* **Echo off** (``stty -echo`` on the slave before OpenD starts): the terminal would otherwise print
  every code we type back to us, and into every log that copies the console (ostai's leak;
  docs/auth_broker.md, 'ostai's own behaviour').
* **Its own session** with the pty as controlling terminal; killed with the broker
  (``PR_SET_PDEATHSIG``), so an OpenD never outlives its supervisor holding the state folder.
* **Stop**: ``exit`` on the console, wait, then SIGTERM and SIGKILL to its process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import os
import signal
import struct
import termios
import time
from collections.abc import Callable

from tradebus.logs import get_logger

log = get_logger("auth_broker.opend")

_PR_SET_PDEATHSIG = 1
COLS, ROWS = 80, 30


def _child_setup() -> None:
    """Runs in the child before exec: new session, the pty as controlling terminal, die with us."""
    os.setsid()
    with contextlib.suppress(OSError):
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _configure_slave(fd: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~(termios.ECHO | termios.ECHOE | termios.ECHOK | termios.ECHONL)
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class OpenDChild:
    """Start with :meth:`spawn`; output chunks go to ``on_output``; :meth:`wait` returns the exit code."""

    def __init__(self, argv: list[str], env: dict[str, str], on_output: Callable[[bytes], None]) -> None:
        self._argv = argv
        self._env = env
        self._on_output = on_output
        self._master: int | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.started = 0.0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def spawn(self) -> None:
        master, slave = os.openpty()
        try:
            _configure_slave(slave)
            self.process = await asyncio.create_subprocess_exec(
                *self._argv, stdin=slave, stdout=slave, stderr=slave, env=self._env,
                preexec_fn=_child_setup, close_fds=True,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self.started = time.monotonic()
        os.set_blocking(master, False)
        self._master = master
        asyncio.get_running_loop().add_reader(master, self._readable)

    def _readable(self) -> None:
        self._drain()

    def _drain(self) -> None:
        """Read everything there is; on EIO (the child closed its side) stop reading."""
        master = self._master
        if master is None:
            return
        while True:
            try:
                chunk = os.read(master, 65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EBADF):
                    self._close_master()
                    return
                raise
            if not chunk:
                self._close_master()
                return
            self._on_output(chunk)

    def _close_master(self) -> None:
        if self._master is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(self._master)
        with contextlib.suppress(OSError):
            os.close(self._master)
        self._master = None

    def write(self, text: str) -> None:
        """Type one line at OpenD's console, ended by ``\\r`` as a terminal (and ostai) sends it."""
        if self._master is None:
            raise OSError(errno.EPIPE, "OpenD console is closed")
        data = (text + "\r").encode("utf-8")
        while data:
            try:
                written = os.write(self._master, data)
            except BlockingIOError:
                raise OSError(errno.EAGAIN, "OpenD console is not reading") from None
            data = data[written:]

    async def wait(self) -> int:
        assert self.process is not None
        code = await self.process.wait()
        self._drain()  # the last words before exit (a failure reason) may still sit in the pty
        self._close_master()
        return code

    def signal(self, sig: int) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    async def stop(self, grace: float) -> int | None:
        """``exit`` first (OpenD keeps its remembered session that way), then signals."""
        if self.process is None:
            return None
        if self.process.returncode is None:
            with contextlib.suppress(OSError):
                self.write("exit")
        for sig, wait in ((None, grace), (signal.SIGTERM, 1.0), (signal.SIGKILL, 2.0)):
            if sig is not None:
                log.warning("opend did not exit; sending signal", signal=signal.Signals(sig).name, pid=self.pid)
                self.signal(sig)
            try:
                return await asyncio.wait_for(asyncio.shield(self.process.wait()), wait)
            except TimeoutError:
                continue
        return self.process.returncode
