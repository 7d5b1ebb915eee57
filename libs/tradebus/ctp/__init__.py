"""Access to the openctp-ctp native API, guarded against its import-time abort.

openctp-ctp calls ``abort()`` inside its C++ static initialisers unless the ``zh_CN.GB18030``
locale exists, which kills the whole process with no Python traceback. Every import of
``openctp_ctp`` in tradebus goes through :func:`import_ctp_modules`, which checks first and
raises a sentence the operator can act on instead.
"""

from __future__ import annotations

import locale
from types import ModuleType

REQUIRED_LOCALE = "zh_CN.GB18030"
LOCALE_HELP = (
    "openctp-ctp needs the locale zh_CN.GB18030, which this machine lacks; add it with "
    "`apt-get install -y locales && localedef -c -f GB18030 -i zh_CN zh_CN.GB18030` (Debian/Ubuntu)"
)


class CtpLocaleMissing(RuntimeError):
    """The GB18030 locale openctp-ctp requires is not installed."""


def gb18030_locale_available() -> bool:
    saved = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, REQUIRED_LOCALE)
    except locale.Error:
        return False
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)
    return True


def require_gb18030_locale() -> None:
    if not gb18030_locale_available():
        raise CtpLocaleMissing(LOCALE_HELP)


def import_ctp_modules() -> tuple[ModuleType, ModuleType]:
    """Return ``(thostmduserapi, thosttraderapi)`` after checking the locale."""
    require_gb18030_locale()
    from openctp_ctp import thostmduserapi, thosttraderapi

    return thostmduserapi, thosttraderapi
