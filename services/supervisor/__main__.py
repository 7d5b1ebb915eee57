"""``python -m supervisor``: the ``tradebus`` command (``python -m supervisor up`` runs everything)."""

from __future__ import annotations

from supervisor.main import main

if __name__ == "__main__":
    main()
