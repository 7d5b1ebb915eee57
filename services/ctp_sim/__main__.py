"""``python -m ctp_sim`` / ``ctp_sim``: run the simulated CTP front."""

from __future__ import annotations

from ctp_sim.config import parse_args
from ctp_sim.server import run


def main(argv: list[str] | None = None) -> None:
    run(parse_args(argv))


if __name__ == "__main__":
    main()
