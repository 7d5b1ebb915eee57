"""An instrument as tradebus names it everywhere outside subjects: ``<venue>.<exchange>.<symbol>``
(``ctp.SHFE.rb2601``, ``futu.HK.00700``, ``futu.US.BRK.B`` — the symbol may itself contain dots), the
spelling of ``[md] subscriptions`` and of the client SDK."""

from __future__ import annotations

from typing import NamedTuple


class Instrument(NamedTuple):
    venue: str
    exchange: str
    symbol: str

    def __str__(self) -> str:
        return f"{self.venue}.{self.exchange}.{self.symbol}"

    @classmethod
    def parse(cls, text: str) -> Instrument:
        """``"<venue>.<exchange>.<symbol>"``; the symbol may itself contain dots (``US.BRK.B``)."""
        parts = text.split(".", 2)
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"expected <venue>.<exchange>.<symbol>, got {text!r}")
        return cls(*parts)
