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

from tradebus.ctp.errors import ERROR_TEXT as CTP_TEXT  # CTP's own ids ('CTP error ids'): the kit's

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
