"""``python -m td_exec``: the execution service."""

from __future__ import annotations

from td_exec.service import TdExecService
from tradebus.runtime import run_service


def main() -> None:
    run_service(TdExecService, name="td_exec")


if __name__ == "__main__":
    main()
