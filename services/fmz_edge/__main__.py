"""``python -m fmz_edge``: run the FMZ custom-protocol plug-in on the shared runtime."""

from __future__ import annotations

from fmz_edge.service import FmzEdge
from tradebus.runtime import run_service


def main() -> None:
    run_service(FmzEdge, name="fmz_edge")


if __name__ == "__main__":
    main()
