"""``python -m ws_edge``: run the webctp-compatible WebSocket edge on the shared runtime."""

from __future__ import annotations

from tradebus.runtime import run_service
from ws_edge.service import WsEdge


def main() -> None:
    run_service(WsEdge, name="ws_edge")


if __name__ == "__main__":
    main()
