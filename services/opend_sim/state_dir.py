"""OpenD's data folder (``~/.com.futunn.FutuOpenD``; docs/auth_broker.md, 'State folder').

* ``F3CNN/Device.dat`` holds a random device id. A device id that has passed an SMS check is trusted,
  so later logins need no code; a missing or corrupted file means a new device and a new check.
  The simulator writes the file when a login completes, as the real binary does.
* ``F3CNN/PicVerifyCode.png`` is the last downloaded picture captcha.
* ``Log/GTWLog_0_<timestamp>.log`` mirrors the console plus ``ProgramStatusType_*`` markers, which
  third-party scripts grep.
"""

from __future__ import annotations

import re
import secrets
import struct
import time
import zlib
from pathlib import Path

_DEVICE_ID = re.compile(r"^[0-9a-f]{32}$")


def device_file(state_dir: Path) -> Path:
    return state_dir / "F3CNN" / "Device.dat"


def pic_file(state_dir: Path) -> Path:
    return state_dir / "F3CNN" / "PicVerifyCode.png"


def device_trusted(state_dir: Path) -> bool:
    try:
        content = device_file(state_dir).read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return False
    return bool(_DEVICE_ID.match(content))


def trust_device(state_dir: Path) -> None:
    """Record this device as verified (also usable by tests that want a login without a code)."""
    if device_trusted(state_dir):
        return
    path = device_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(secrets.token_hex(16), "ascii")
    tmp.replace(path)


def write_pic_code(state_dir: Path) -> Path:
    """Write a fresh small PNG captcha (random noise; the accepted code is a simulator option)."""
    path = pic_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_noise_png(24, 8))
    return path


def _noise_png(width: int, height: int) -> bytes:
    rows = b"".join(b"\x00" + secrets.token_bytes(width) for _ in range(height))  # filter 0, grey
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


class GtwLog:
    """Append-only text log in ``Log/``; disabled with ``-log_level=no``."""

    def __init__(self, state_dir: Path, enabled: bool) -> None:
        self._path: Path | None = None
        if enabled:
            log_dir = state_dir / "Log"
            log_dir.mkdir(parents=True, exist_ok=True)
            self._path = log_dir / f"GTWLog_0_{time.strftime('%Y%m%d%H%M%S')}.log"

    @property
    def path(self) -> Path | None:
        return self._path

    def write(self, line: str) -> None:
        if self._path is None:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self._path.open("a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {line}\n")
