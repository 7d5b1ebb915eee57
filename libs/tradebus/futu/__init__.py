"""The Futu kit: what tradebus knows about futu-api and OpenD, written once for every service.

* :mod:`tradebus.futu.loader` — ``import futu`` without its side effects (the one loader);
* :mod:`tradebus.futu.frame` — OpenD's 44-byte packet header and the connection proto ids;
* :mod:`tradebus.futu.markets` — markets, security codes (``HK.00700``), the markets' time zones;
* :mod:`tradebus.futu.trade` — futu-api's trade vocabulary (TrdSide, OrderType, OrderStatus, TrdEnv…)
  mapped to the bus's enums, with the wire numbers OpenD sends for them.

The Futu facts these rely on are in ``docs/td_exec_futu.md``, "The Futu kit". Nothing here imports
futu-api at import time: the tables are plain strings and ints, checked against futu-api's own
constants by ``tests/foundation/test_futu_kit.py``.
"""
