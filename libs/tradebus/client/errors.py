"""What the SDK raises: one exception per thing a strategy can do about it, each with a sentence for a person."""

from __future__ import annotations

from tradebus.schemas.orders import OrderView


class ClientError(RuntimeError):
    """Base of every error :mod:`tradebus.client` raises."""


class NotPermitted(ClientError):
    """The bus refused the subject: the account (or the action) is not one of this user's grants."""


class UnknownSymbol(ClientError):
    """The symbol is malformed, or md_ingest / the venue does not know it."""


class VenueDown(ClientError):
    """Nobody answers for the venue (td_exec or md_ingest not running), or the venue is disconnected."""


class CommandRefused(ClientError):
    """td_exec answered ``CommandDenied``; ``code`` is its machine-readable reason."""

    def __init__(self, code: str, reason: str, client_order_id: str | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.client_order_id = client_order_id


class OrderTimeout(ClientError):
    """The order did not reach the state asked for in time; ``order`` is how it stands."""

    def __init__(self, message: str, order: OrderView | None) -> None:
        super().__init__(message)
        self.order = order


class OrderFailed(ClientError):
    """The order ended (rejected, cancelled, expired) without reaching the state asked for."""

    def __init__(self, message: str, order: OrderView) -> None:
        super().__init__(message)
        self.order = order
