"""What a quote, an account or a bar series needs from the connection: the bus user's name, its
default timeout, bounded requests and confirmed subscriptions.

They are handed a :class:`Client`, but they depend on this narrow shape only, so the client module
(which builds them) is the one that imports them and never the other way round.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import msgspec

from tradebus.bus import Bus
from tradebus.schemas.base import BusMessage

T = TypeVar("T")


class BusLink(Protocol):
    user: str
    timeout: float
    bus: Bus

    async def request(self, subject: str, message: BusMessage, decoder: msgspec.json.Decoder[T], *,
                      timeout: float | None = None, attempts: int = 1) -> T: ...

    async def subscribe(self, subject: str, cb: Any) -> Any: ...

    async def subscribe_md(self, subject: str, cb: Any) -> Any: ...

    async def follow_stream(self, stream: str, filter_subject: str, cb: Any) -> tuple[Any, str]: ...
