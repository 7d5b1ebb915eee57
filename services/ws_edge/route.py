"""A row of the route table and the request a handler gets, and the table a session dispatches with.

The tables themselves are in :mod:`ws_edge.routes`, which imports the handlers; the sessions are given
their table (:class:`RouteTable`) when they are made, so neither a session nor a handler imports the
tables, and nothing imports back up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ws_edge.requests import validate_body


@dataclass(frozen=True, slots=True)
class Route:
    body_keys: tuple[str, ...]  # accepted request body keys, first is canonical
    fields: tuple[str, ...]  # request body fields (docs/ws_edge.md, 'Field order')
    rsp_type: str
    rsp_key: str
    empty: Any  # body of the single message of an empty answer (None → null, {} → {})
    handler: Handler
    needs_login: bool = True


@dataclass(frozen=True, slots=True)
class Request:
    """One request as a handler gets it: its name, its route, its body (validated on ``/td/``) and its
    ``RequestID``."""

    msg_type: str
    route: Route
    body: dict[str, Any]
    request_id: int


Handler = Callable[[Any, Request], Awaitable[None]]  # (the session, the request)


@dataclass(frozen=True, slots=True)
class RouteTable:
    """One endpoint's rows, and the request names it knows but does not route (answered "not logged
    in" before a login and "not implemented" after it, as webctp does)."""

    routes: Mapping[str, Route]
    known_unrouted: frozenset[str] = field(default_factory=frozenset)

    def get(self, msg_type: str) -> Route | None:
        return self.routes.get(msg_type)

    def rsp_name(self, msg_type: str) -> str:
        """The reply name of a refused call (-3): the route's, or the request's own name when unrouted."""
        route = self.routes.get(msg_type)
        return route.rsp_type if route else msg_type

    def validate(self, msg_type: str, data: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """(body, RequestID) of a routed request, checked against its row, or ``RequestInvalid``."""
        route = self.routes[msg_type]
        return validate_body(msg_type, data, route.body_keys, route.fields)
