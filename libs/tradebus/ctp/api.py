"""Pick the CTP API object for a front address: the ctp_sim double or the native library.

``sim://host:port`` → :class:`tradebus.ctp.sim_api.SimMdApi` / ``SimTraderApi``;
``tcp://`` and ``ssl://`` → openctp-ctp's ``CreateFtdcMdApi`` / ``CreateFtdcTraderApi``. Either way
the caller then does ``RegisterSpi``, ``RegisterFront(front)`` and ``Init`` as usual.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from tradebus.ctp import import_ctp_modules
from tradebus.ctp.sim_api import SimMdApi, SimTraderApi

SIM_SCHEMES = frozenset({"sim"})
NATIVE_SCHEMES = frozenset({"tcp", "ssl"})


def front_scheme(front: str) -> str:
    """The scheme of a front address, checked; ValueError names what is accepted."""
    parts = urlsplit(front)
    scheme = parts.scheme.lower()
    if scheme not in SIM_SCHEMES | NATIVE_SCHEMES or not parts.hostname or parts.port is None:
        raise ValueError(
            f"bad CTP front address {front!r}: expected sim://host:port (ctp_sim) "
            "or tcp://host:port / ssl://host:port (a real CTP front)"
        )
    return scheme


def _flow_prefix(flow_dir: str) -> str:
    # The native api uses flow_dir as a path prefix for its .con files: it must end with a separator.
    os.makedirs(flow_dir, exist_ok=True)
    return flow_dir if flow_dir.endswith(os.sep) else flow_dir + os.sep


def create_md_api(front: str, flow_dir: str) -> Any:
    if front_scheme(front) in SIM_SCHEMES:
        return SimMdApi(_flow_prefix(flow_dir))
    md, _ = import_ctp_modules()
    return md.CThostFtdcMdApi.CreateFtdcMdApi(_flow_prefix(flow_dir))


def create_trader_api(front: str, flow_dir: str) -> Any:
    if front_scheme(front) in SIM_SCHEMES:
        return SimTraderApi(_flow_prefix(flow_dir))
    _, td = import_ctp_modules()
    return td.CThostFtdcTraderApi.CreateFtdcTraderApi(_flow_prefix(flow_dir))
