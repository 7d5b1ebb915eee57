"""webctp's request validation, by the bounds the route table gives (``ws_edge.routes``).

webctp validates TD requests with pydantic models and answers a failure with -400 and
``Detail = str(ValidationError)``. pydantic is not a dependency here; :func:`validate_body` applies the
same rules (a ``str`` field takes only text; ``int`` takes integers, integral floats and numeric
text; ``float`` takes numbers and numeric text; ``null`` is wrong everywhere) and writes ``Detail`` in
pydantic's layout, so a client that logs it sees the familiar text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ws_edge.fields import FLOAT_FIELDS, INT_FIELDS


class RequestInvalid(Exception):
    """A -400: ``detail`` is the pydantic-style text sent in ``Detail``."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Problem:
    loc: str
    text: str
    kind: str
    value: Any
    missing: bool = False


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 50 else f"{text[:25]}...{text[-24:]}"


def _type_name(value: Any) -> str:
    return type(value).__name__


def render(model: str, problems: list[Problem]) -> str:
    count = len(problems)
    lines = [f"{count} validation error{'s' if count != 1 else ''} for {model}"]
    for p in problems:
        lines.append(p.loc)
        lines.append(f"  {p.text} [type={p.kind}, input_value={_short_repr(p.value)}, "
                     f"input_type={_type_name(p.value)}]")
    return "\n".join(lines)


def _is_numeric_text(value: str) -> bool:
    try:
        float(value.strip())
    except ValueError:
        return False
    return True


def coerce(name: str, value: Any, loc: str) -> tuple[Any, Problem | None]:
    """One field value by its CTP type, pydantic-v2-lax; returns (value, problem)."""
    if name in INT_FIELDS:
        return _coerce_int(value, loc)
    if name in FLOAT_FIELDS:
        return _coerce_float(value, loc)
    if isinstance(value, str):
        return value, None
    return value, Problem(loc, "Input should be a valid string", "string_type", value)


def _coerce_int(value: Any, loc: str) -> tuple[Any, Problem | None]:
    if isinstance(value, bool):
        return int(value), None
    if isinstance(value, int):
        return value, None
    if isinstance(value, float):
        if value.is_integer():
            return int(value), None
        return value, Problem(loc, "Input should be a valid integer, got a number with a fractional part",
                              "int_from_float", value)
    if isinstance(value, str):
        try:
            return int(value.strip()), None
        except ValueError:
            return value, Problem(loc, "Input should be a valid integer, unable to parse string as an integer",
                                  "int_parsing", value)
    return value, Problem(loc, "Input should be a valid integer", "int_type", value)


def _coerce_float(value: Any, loc: str) -> tuple[Any, Problem | None]:
    if isinstance(value, bool):
        return float(value), None
    if isinstance(value, int | float):
        return float(value), None
    if isinstance(value, str) and _is_numeric_text(value):
        return float(value.strip()), None
    if isinstance(value, str):
        return value, Problem(loc, "Input should be a valid number, unable to parse string as a number",
                              "float_parsing", value)
    return value, Problem(loc, "Input should be a valid number", "float_type", value)


def _body(data: dict[str, Any], body_keys: tuple[str, ...], fields: tuple[str, ...],
          problems: list[Problem]) -> dict[str, Any]:
    key = next((k for k in body_keys if k in data), None)
    if key is None:
        problems.append(Problem(body_keys[0], "Field required", "missing", data, missing=True))
        return {}
    raw = data[key]
    if not isinstance(raw, dict):
        problems.append(Problem(key, "Input should be a valid dictionary or instance of " + key, "model_type", raw))
        return {}
    body: dict[str, Any] = {}
    for name in fields:
        if name in raw:
            value, problem = coerce(name, raw[name], f"{key}.{name}")
            if problem:
                problems.append(problem)
            body[name] = value
    return body  # unknown keys are left out: webctp ignores them in validation


def request_id(data: dict[str, Any], problems: list[Problem], *, required: bool) -> int:
    if "RequestID" not in data:
        if required:
            problems.append(Problem("RequestID", "Field required", "missing", data, missing=True))
        return 0
    value, problem = _coerce_int(data["RequestID"], "RequestID")
    if problem:
        problems.append(problem)
        return 0
    return int(value)


def validate_body(msg_type: str, data: dict[str, Any], body_keys: tuple[str, ...],
                  fields: tuple[str, ...]) -> tuple[dict[str, Any], int]:
    """(body, RequestID) of a routed TD request with these body keys and fields, or :class:`RequestInvalid`.

    ``RequestID`` is required except on ``ReqUserLogin`` (docs/ws_edge.md, 'Leniency we chose').
    """
    problems: list[Problem] = []
    rid = request_id(data, problems, required=msg_type != "ReqUserLogin")
    body = _body(data, body_keys, fields, problems)
    if msg_type == "ReqUserLogin" and not problems:
        _require_login_keys(data["ReqUserLogin"], problems)
    if problems:
        raise RequestInvalid(render(f"WebCTP{msg_type}", problems))
    return body, rid


def _require_login_keys(raw: dict[str, Any], problems: list[Problem]) -> None:
    for key in ("UserID", "Password"):
        if key not in raw:
            problems.append(Problem(f"ReqUserLogin.{key}", "Field required", "missing", raw, missing=True))


def validate_md_login(data: dict[str, Any]) -> dict[str, Any]:
    problems: list[Problem] = []
    raw = data.get("ReqUserLogin")
    if not isinstance(raw, dict):
        kind, text = ("missing", "Field required") if raw is None and "ReqUserLogin" not in data else (
            "model_type", "Input should be a valid dictionary or instance of ReqUserLogin")
        problems.append(Problem("ReqUserLogin", text, kind, data if kind == "missing" else raw))
    else:
        _require_login_keys(raw, problems)
        for key in ("UserID", "Password"):
            if key in raw and not isinstance(raw[key], str):
                problems.append(Problem(f"ReqUserLogin.{key}", "Input should be a valid string", "string_type",
                                        raw[key]))
    if problems:
        raise RequestInvalid(render("WebCTPReqUserLogin", problems))
    return raw  # type: ignore[return-value]


def validate_instrument_list(msg_type: str, data: dict[str, Any]) -> list[str]:
    """``"InstrumentID": [str, ...]`` at the top level (docs/ws_edge.md, 'Market-data requests').

    A bare string is refused rather than iterated character by character as webctp does."""
    raw = data.get("InstrumentID")
    problems: list[Problem] = []
    if "InstrumentID" not in data:
        problems.append(Problem("InstrumentID", "Field required", "missing", data, missing=True))
    elif not isinstance(raw, list):
        problems.append(Problem("InstrumentID", "Input should be a valid list", "list_type", raw))
    else:
        for i, item in enumerate(raw):
            if not isinstance(item, str):
                problems.append(Problem(f"InstrumentID.{i}", "Input should be a valid string", "string_type", item))
    if problems:
        raise RequestInvalid(render(f"WebCTP{msg_type}", problems))
    return raw  # type: ignore[return-value]
