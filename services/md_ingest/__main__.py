"""``python -m md_ingest``: run the market-data ingest service on the shared runtime."""

from __future__ import annotations

from md_ingest.service import MdIngest
from tradebus.runtime import run_service


def main() -> None:
    run_service(MdIngest, name="md_ingest")


if __name__ == "__main__":
    main()
