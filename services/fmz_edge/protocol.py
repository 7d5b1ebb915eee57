"""The FMZ custom-protocol envelope: request validation, response bodies, number formatting.

Request body: ``{"access_key", "secret_key", "method", "params", "nonce"}``. Response: ``{"data": …,
"raw": …}`` on success, ``{"error": "…"}`` on any failure — always HTTP 200, because the docker reads
the body and shows ``error`` in the strategy's log.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

ERROR_GET = "not support GET method."  # the seed plug-in's exact answer to a GET

_REQUIRED: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("access_key", str, "a string"),
    ("secret_key", str, "a string"),
    ("method", str, "a string"),
    ("params", dict, "a JSON object"),
    ("nonce", int, "an integer timestamp (the docker sends nanoseconds)"),
)

_encoder = msgspec.json.Encoder()


class FmzError(Exception):
    """A request that cannot be answered; the message goes back as ``{"error": message}``."""


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    access_key: str
    secret_key: str
    method: str
    params: dict[str, Any]
    nonce: int

    def __repr__(self) -> str:  # never print the secret, even in a traceback
        return f"Envelope(access_key={self.access_key!r}, method={self.method!r}, nonce={self.nonce})"


def parse_envelope(body: bytes) -> Envelope:
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise FmzError(f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise FmzError("request body is nested too deeply") from None
    if not isinstance(raw, dict):
        raise FmzError("request body must be a JSON object with access_key, secret_key, method, params, nonce")
    missing = [key for key, _, _ in _REQUIRED if key not in raw]
    if missing:
        raise FmzError(f"missing required parameters: {', '.join(missing)}")
    for key, typ, what in _REQUIRED:
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, typ):
            raise FmzError(f"{key} must be {what}, got {type(value).__name__}")
    if not raw["method"]:
        raise FmzError("method must not be empty")
    return Envelope(access_key=raw["access_key"], secret_key=raw["secret_key"], method=raw["method"],
                    params=raw["params"], nonce=raw["nonce"])


def ok(data: Any, raw: Any = None) -> bytes:
    return _encoder.encode({"data": data, "raw": raw})


def error(message: str) -> bytes:
    return _encoder.encode({"error": message})


# --- numbers as FMZ reads them -------------------------------------------------------------------


def num_str(value: float | int | None) -> str:
    """A number as the seed writes it in strings: ``"2955"``, ``"2922.18"``; no value → ``"0"``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "0"
    if isinstance(value, int):
        return str(value)
    text = format(value, ".12g")
    if "e" in text:  # keep plain decimal notation for very small / large values
        text = format(value, ".12f").rstrip("0").rstrip(".")
    return text


def num(value: float | int | None) -> float | int:
    """A JSON number; integral floats become ints (``3120`` not ``3120.0``), like the seed's examples."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return 0
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def ms(ns: int) -> int:
    return ns // 1_000_000


# --- params ----------------------------------------------------------------------------------------


def param_int(params: dict[str, Any], key: str, default: int | None = None, *, minimum: int = 0) -> int:
    """An integer parameter that the docker may send as a number or as a decimal string."""
    value = params.get(key)
    if value is None or value == "":
        if default is None:
            raise FmzError(f"params.{key} is required")
        return default
    if isinstance(value, bool):
        raise FmzError(f"params.{key} must be an integer, got a boolean")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise FmzError(f"params.{key} must be an integer, got {value!r}") from None
    if not isinstance(value, int):
        raise FmzError(f"params.{key} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise FmzError(f"params.{key} must be at least {minimum}, got {value}")
    return value


def param_float(params: dict[str, Any], key: str) -> float:
    value = params.get(key)
    if value is None or value == "":
        raise FmzError(f"params.{key} is required")
    if isinstance(value, bool):
        raise FmzError(f"params.{key} must be a number, got a boolean")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise FmzError(f"params.{key} must be a number, got {value!r}") from None
    if not isinstance(value, int | float):
        raise FmzError(f"params.{key} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise FmzError(f"params.{key} must be a finite number")
    return float(value)


def param_str(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise FmzError(f"params.{key} must be a non-empty string")
    return value
