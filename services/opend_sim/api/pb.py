"""futu-api's generated protobuf modules, loaded without running ``futu/__init__``.

``import futu`` replaces the SIGINT handler with ``os._exit(0)`` and writes log files under ``$HOME``;
a server process must not inherit either. The generated ``*_pb2`` files import their dependencies as
top-level modules (``import Common_pb2``) because ``futu/common/pb/__init__.py`` puts its own folder
on ``sys.path``; we do the same, so the modules we load are the very ones futu-api itself uses when
both live in one process (tests).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

# proto id -> generated module name, for every proto the simulator serves or pushes
PROTO_MODULES: dict[int, str] = {
    1001: "InitConnect",
    1002: "GetGlobalState",
    1003: "Notify",
    1004: "KeepAlive",
    2001: "Trd_GetAccList",
    2005: "Trd_UnlockTrade",
    2008: "Trd_SubAccPush",
    2101: "Trd_GetFunds",
    2102: "Trd_GetPositionList",
    2201: "Trd_GetOrderList",
    2202: "Trd_PlaceOrder",
    2205: "Trd_ModifyOrder",
    2208: "Trd_UpdateOrder",
    2211: "Trd_GetOrderFillList",
    2218: "Trd_UpdateOrderFill",
    2221: "Trd_GetHistoryOrderList",
    2222: "Trd_GetHistoryOrderFillList",
    3001: "Qot_Sub",
    3003: "Qot_GetSubInfo",
    3004: "Qot_GetBasicQot",
    3005: "Qot_UpdateBasicQot",
    3006: "Qot_GetKL",
    3007: "Qot_UpdateKL",
    3010: "Qot_GetTicker",
    3011: "Qot_UpdateTicker",
    3008: "Qot_GetRT",
    3009: "Qot_UpdateRT",
    3012: "Qot_GetOrderBook",
    3013: "Qot_UpdateOrderBook",
    3014: "Qot_GetBroker",
    3015: "Qot_UpdateBroker",
    3103: "Qot_RequestHistoryKL",
    3202: "Qot_GetStaticInfo",
    3203: "Qot_GetSecuritySnapshot",
    3204: "Qot_GetPlateSet",
    3205: "Qot_GetPlateSecurity",
    3207: "Qot_GetOwnerPlate",
    3211: "Qot_GetCapitalFlow",
    3219: "Qot_RequestTradeDate",
    3223: "Qot_GetMarketState",
    2111: "Trd_GetMaxTrdQtys",
    2225: "Trd_GetOrderFee",
}
PROTO_IDS: dict[str, int] = {name: pid for pid, name in PROTO_MODULES.items()}

# any Response works for a bare error: retType/retMsg/errCode are fields 1-3 of every Response
_GENERIC_RESPONSE_MODULE = "KeepAlive"


class BodyError(Exception):
    """A request body that cannot be decoded as the proto its header names."""


@cache
def _pb_dir() -> str:
    spec = importlib.util.find_spec("futu")  # finds the package without executing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("futu-api is not installed; opend_sim needs its generated protobuf modules")
    return str(Path(next(iter(spec.submodule_search_locations))) / "common" / "pb")


@cache
def module(name: str) -> ModuleType:
    pb_dir = _pb_dir()
    if pb_dir not in sys.path:
        sys.path.append(pb_dir)
    return importlib.import_module(f"{name}_pb2")


def for_proto(proto_id: int) -> ModuleType:
    return module(PROTO_MODULES[proto_id])


def response(proto_id: int) -> Any:
    """A fresh ``Response`` of ``proto_id`` (or the generic one for unknown ids)."""
    return module(PROTO_MODULES.get(proto_id, _GENERIC_RESPONSE_MODULE)).Response()


def ok_response(proto_id: int) -> Any:
    """A successful ``Response`` of ``proto_id`` with its (possibly empty) S2C present."""
    rsp = response(proto_id)
    rsp.retType = 0
    rsp.s2c.SetInParent()  # an empty S2C must still be present
    return rsp


def error_response(proto_id: int, msg: str, ret_type: int = -1) -> Any:
    rsp = response(proto_id)
    rsp.retType = ret_type
    rsp.retMsg = msg
    return rsp


def decode_request(proto_id: int, fmt: int, body: bytes) -> Any:
    """Decode a request in protobuf (fmt 0) or JSON (fmt 1); raise BodyError if it cannot be."""
    req = for_proto(proto_id).Request()
    try:
        if fmt == 1:
            json_format.Parse(body.decode("utf-8"), req, ignore_unknown_fields=True)
        else:
            req.ParseFromString(body)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, ValueError) as exc:
        raise BodyError(f"cannot decode {PROTO_MODULES[proto_id]} request body ({exc.__class__.__name__})") from exc
    return req


def serialize(msg: Message) -> bytes:
    # partial: the client's parser does not insist on required fields, and a missing optional
    # sub-message must never turn a reply into an exception inside the server
    return msg.SerializePartialToString()
