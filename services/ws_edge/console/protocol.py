"""The console's WebSocket messages: JSON objects tagged by ``type``.

Browser → edge messages are msgspec structs (unknown fields and wrong types are refused with a
message that names the field); edge → browser messages are plain dicts built by :func:`out`, because
most of them are snapshots of tables the page renders as they come.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from tradebus.orders.bounds import VENUE_QTY_MAX

Text = Annotated[str, msgspec.Meta(max_length=64)]
Instrument = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class _In(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type"):
    pass


class Login(_In, tag="login"):
    user: Text
    password: Annotated[str, msgspec.Meta(max_length=256)]


class Resume(_In, tag="resume"):
    token: Annotated[str, msgspec.Meta(max_length=128)]


class Logout(_In, tag="logout"):
    pass


class Ping(_In, tag="ping"):
    pass


class WatchAdd(_In, tag="watch_add"):
    instrument: Instrument


class WatchRemove(_In, tag="watch_remove"):
    instrument: Instrument


class VerifyCode(_In, tag="verify_code"):
    instance: Text
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]


class Place(_In, tag="place"):
    venue: Text
    account: Text
    instrument: Instrument
    side: Literal["buy", "sell"]
    price: float  # positivity and the tick are td_exec's to check (its reason reaches the ticket)
    qty: Annotated[int, msgspec.Meta(le=VENUE_QTY_MAX)]  # beyond any venue's integer field
    offset: Literal["", "open", "close", "close_today"] = ""  # futures only; stocks leave it empty


class Cancel(_In, tag="cancel"):
    venue: Text
    account: Text
    client_order_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


ClientMessage = Login | Resume | Logout | Ping | WatchAdd | WatchRemove | VerifyCode | Place | Cancel
DECODER = msgspec.json.Decoder(ClientMessage)
BEFORE_LOGIN = (Login, Resume, Ping)  # everything else needs a logged-in session
_ENCODER = msgspec.json.Encoder()


def decode(frame: str | bytes) -> ClientMessage:
    """A client message, or :class:`msgspec.ValidationError` / :class:`msgspec.DecodeError`."""
    return DECODER.decode(frame)


def out(kind: str, **fields: Any) -> bytes:
    return _ENCODER.encode({"type": kind, **fields})
