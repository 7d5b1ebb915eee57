"""The time zone each exchange counts its sessions, days and bars in, for every venue.

Built from the venue kits (Futu's markets in :mod:`tradebus.futu.markets`, CTP's exchanges in
:mod:`tradebus.ctp.exchanges` and :mod:`tradebus.ctp.time`), so the table is written nowhere else.
CTP's exchanges get the kit's fixed UTC+8 (China has kept no daylight saving since 1991, so it equals
Asia/Shanghai and is cheaper to convert with).
"""

from __future__ import annotations

from datetime import tzinfo

from tradebus.ctp.exchanges import CTP_EXCHANGES
from tradebus.ctp.time import BEIJING
from tradebus.futu.markets import MARKET_TZ

EXCHANGE_TZ: dict[str, tzinfo] = {**MARKET_TZ, **dict.fromkeys(CTP_EXCHANGES, BEIJING)}
