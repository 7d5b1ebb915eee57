"""Import ``futu`` without letting it take over the process (the one place that imports futu-api).

``import futu`` creates its log folder under ``$HOME`` (``~/.com.futunn.FutuOpenD/Log``-style) and,
on the main thread, replaces the SIGINT handler with ``os._exit(0)``: a gateway must neither litter
the operator's home nor die without flushing its event store on Ctrl-C. We point ``HOME`` at the
service's data folder for the duration of the import (futu reads it then, once), put the signal
handler back, make futu's threads daemons (so a stuck OpenD never keeps the process alive), turn its
console log off and its file log down to warnings (its debug file log writes a line per push).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import ModuleType

_import_lock = threading.Lock()  # two services of one process (tests) may load it from two threads


def import_futu(log_home: str | os.PathLike[str]) -> ModuleType:
    """futu-api, imported once with ``log_home`` as its log root (idempotent)."""
    with _import_lock:
        already = sys.modules.get("futu")
        if already is not None:
            return already
        os.makedirs(log_home, exist_ok=True)
        previous_home = os.environ.get("HOME")
        # only the main thread may set a signal handler, and only there does futu replace it
        on_main = threading.current_thread() is threading.main_thread()
        previous_sigint = signal.getsignal(signal.SIGINT) if on_main else None
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
