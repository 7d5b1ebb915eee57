"""The console's HTTP side: its three static files, with strict headers, and the WebSocket origin check.

The files are read once from the package (``static/``); there is no directory listing and no path
from the request ever touches the file system. Every response forbids framing, sniffing, referrers
and any script, style or connection that is not this server's own (so no inline code either).
"""

from __future__ import annotations

import email.utils
from http import HTTPStatus
from importlib import resources
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

STATIC_FILES: dict[str, tuple[str, str]] = {  # URL path → (file in static/, Content-Type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/console.css": ("console.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)


def load_static() -> dict[str, bytes]:
    folder = resources.files("ws_edge.console") / "static"
    return {name: (folder / name).read_bytes() for name, _ in set(STATIC_FILES.values())}


def response(status: HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers([("Date", email.utils.formatdate(usegmt=True)), ("Connection", "close"),
                       ("Content-Length", str(len(body))), ("Content-Type", content_type), *SECURITY_HEADERS])
    return Response(status.value, status.phrase, headers, body)


def static_response(files: dict[str, bytes], path: str) -> Response | None:
    """The file for ``path``, or None when it is not one of the console's."""
    entry = STATIC_FILES.get(path)
    if entry is None:
        return None
    name, content_type = entry
    return response(HTTPStatus.OK, files[name], content_type)


def same_origin(request: Request) -> bool:
    """A browser names the page that opens a WebSocket in ``Origin``; only our own page may open the
    console's (cross-site WebSocket hijacking would otherwise ride on a logged-in operator's browser)."""
    origin = request.headers.get("Origin", "")
    host = request.headers.get("Host", "")
    if not origin or not host:
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


def forbidden(text: str) -> Response:
    return response(HTTPStatus.FORBIDDEN, text.encode(), "text/plain; charset=utf-8")
