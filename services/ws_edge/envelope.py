"""The webctp envelope, byte for byte (docs/ws_edge.md, 'Envelope', 'Dispatch', 'Error codes').

* keys in order ``MsgType``, ``RspInfo``, [``RequestID`` when non-zero], [``IsLast`` only when true],
  then the body key;
* ``RspInfo`` always present (``null`` allowed), except in ``RtnDepthMarketData``;
* compact JSON, non-ASCII kept as UTF-8 — exactly ``json.dumps(separators=(",", ":"),
  ensure_ascii=False)``, which is what webctp's Starlette ``send_json`` writes (msgspec would write
  ``1e16`` where Python writes ``1e+16``, so the stdlib encoder is used; it runs once per message, not
  once per client).
"""

from __future__ import annotations

import json
from typing import Any

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

# docs/ws_edge.md, 'Error codes': the codes webctp generates itself, with its exact strings.
BAD_REQUEST = -400
NOT_LOGGED_IN = -401
NOT_IMPLEMENTED = -404
CALL_FAILED = -1
TOO_MANY_PENDING = -2
TOO_MANY_PER_SECOND = -3
ERROR_TEXT: dict[int, str] = {
    BAD_REQUEST: "参数有误",
    NOT_LOGGED_IN: "未登录",
    NOT_IMPLEMENTED: "Not implemented",
    CALL_FAILED: "CTP:请求失败",
    TOO_MANY_PENDING: "CTP:未处理请求超过许可数",
    TOO_MANY_PER_SECOND: "CTP:每秒发送请求数超过许可数",
}

# CTP errors (docs/ws_edge.md, 'CTP error ids') this edge reports in RspInfo, with the front's texts.
CTP_OK = 0
CTP_INVALID_LOGIN = 3
CTP_NO_PERMISSION = 9
CTP_OTHERS_PASSWORD = 10
CTP_INVESTOR_NOT_FOUND = 13
CTP_BAD_ORDER_FIELD = 15
CTP_OLD_PASSWORD_MISMATCH = 14
CTP_INSTRUMENT_NOT_FOUND = 16
CTP_DUPLICATE_ORDER = 22
CTP_CANCEL_NOT_FOUND = 25
CTP_CANCEL_NOT_ACTIVE = 26
CTP_INSUFFICIENT_FUNDS = 31
CTP_LOGIN_FORBIDDEN = 75
CTP_NO_FUNCTION = 77
CTP_WEAK_PASSWORD = 131
CTP_TEXT: dict[int, str] = {
    CTP_OK: "CTP:正确",
    CTP_INVALID_LOGIN: "CTP:不合法的登录",
    CTP_NO_PERMISSION: "CTP:无此权限",
    CTP_OTHERS_PASSWORD: "CTP:修改别人的口令",
    CTP_OLD_PASSWORD_MISMATCH: "CTP:原口令不匹配",
    CTP_INVESTOR_NOT_FOUND: "CTP:找不到投资者",
    CTP_BAD_ORDER_FIELD: "CTP:报单字段有误",
    CTP_INSTRUMENT_NOT_FOUND: "CTP:找不到合约",
    CTP_DUPLICATE_ORDER: "CTP:报单错误：不允许重复报单",
    CTP_CANCEL_NOT_FOUND: "CTP:撤单找不到相应报单",
    CTP_CANCEL_NOT_ACTIVE: "CTP:报单已全成交或已撤销，不能再撤",
    CTP_INSUFFICIENT_FUNDS: "CTP:资金不足",
    CTP_LOGIN_FORBIDDEN: "CTP:连续登录失败次数超限，登录被禁止",
    CTP_NO_FUNCTION: "CTP:无此功能",
    CTP_WEAK_PASSWORD: "CTP:口令强度不够",
}
MD_OK_TEXT = "CTP:No Error"  # the MD front's success text is English


class Refused(Exception):
    """A request answered with an error (its RspInfo) and no record."""

    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__(info.get("ErrorMsg", ""))
        self.info = info


def encode(message: dict[str, Any]) -> bytes:
    # A lone surrogate (CTP garbage bytes) cannot be UTF-8: replace it rather than fail the frame.
    return _dumps(message).encode("utf-8", "replace")


def rsp_info(error_id: int, error_msg: str | None = None) -> dict[str, Any]:
    if error_msg is None:
        error_msg = ERROR_TEXT.get(error_id) or CTP_TEXT.get(error_id, "")
    return {"ErrorID": error_id, "ErrorMsg": error_msg}


def response(msg_type: str, info: dict[str, Any] | None, body_key: str | None = None, body: Any = None, *,
             request_id: int = 0, is_last: bool = False, has_body: bool = True) -> dict[str, Any]:
    """One response message; ``has_body=False`` leaves the body key out (login failure, -1/-2/-3)."""
    message: dict[str, Any] = {"MsgType": msg_type, "RspInfo": info}
    if request_id:
        message["RequestID"] = request_id
    if is_last:
        message["IsLast"] = True
    if has_body and body_key is not None:
        message[body_key] = body
    return message


def error(msg_type: str, error_id: int, detail: str | None = None) -> dict[str, Any]:
    """webctp's own error replies (-400/-401/-404): they echo the request's MsgType."""
    message: dict[str, Any] = {"MsgType": msg_type, "RspInfo": rsp_info(error_id)}
    if detail is not None:
        message["Detail"] = detail
    return message


def call_failed(rsp_type: str, error_id: int) -> dict[str, Any]:
    """A refused call (-1/-2/-3): the Rsp name, RspInfo, nothing else."""
    return {"MsgType": rsp_type, "RspInfo": rsp_info(error_id)}


def push(msg_type: str, body_key: str, body: dict[str, Any], info: dict[str, Any] | None = None) -> dict[str, Any]:
    """RtnOrder / RtnTrade (RspInfo null) and ErrRtn* (RspInfo the error): no RequestID, no IsLast."""
    return {"MsgType": msg_type, "RspInfo": info, body_key: body}


def depth(body: dict[str, Any]) -> dict[str, Any]:
    """RtnDepthMarketData: the one message without an RspInfo key."""
    return {"MsgType": "RtnDepthMarketData", "DepthMarketData": body}


def stream(rsp_type: str, body_key: str, records: list[dict[str, Any]], *, request_id: int = 0,
           empty: Any = None, info: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """A query answer: one message per record, ``IsLast`` on the final one; no record → one message
    carrying ``empty`` (``null`` or ``{}`` per docs/ws_edge.md, 'Envelope')."""
    if not records:
        return [response(rsp_type, info, body_key, empty, request_id=request_id, is_last=True)]
    last = len(records) - 1
    return [response(rsp_type, info, body_key, record, request_id=request_id, is_last=i == last)
            for i, record in enumerate(records)]
