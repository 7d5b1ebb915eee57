"""Import ``futu`` without letting it take over the process.

``import futu`` creates its log folder under ``$HOME`` (``~/.com.futunn.FutuOpenD/Log``-style) and,
on the main thread, replaces the SIGINT handler with ``os._exit(0)``. We point ``HOME`` at the
service's data folder for the duration of the import (futu reads it then, once), put the signal
handler back, make futu's threads daemons (so a stuck OpenD never keeps the process alive), turn its
console log off and its file log down to warnings (its debug file log writes a line per push).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import ModuleType


def import_futu(log_home: str) -> ModuleType:
    if "futu" in sys.modules:  # already imported (e.g. a second service in one test process)
        return sys.modules["futu"]
    os.makedirs(log_home, exist_ok=True)
    previous_home = os.environ.get("HOME")
    previous_sigint = signal.getsignal(signal.SIGINT)
    os.environ["HOME"] = os.path.abspath(log_home)
    try:
        import futu
    finally:
        if previous_home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = previous_home
        if previous_sigint is not None:
            signal.signal(signal.SIGINT, previous_sigint)
    futu.SysConfig.set_all_thread_daemon(True)
    futu.SysConfig.enable_console_log(False)
    from futu.common.ft_logger import logger as futu_logger

    futu_logger.file_level = logging.WARNING
    return futu
