"""``tradebus.client``: a small SDK for strategies on the bus (see docs/strategies.md).

```python
from tradebus.client import Client

async with await Client.connect("nats://127.0.0.1:4222", "alice", password) as client:
    quote = await client.quote("ctp.SHFE.rb2601")
    account = await client.account("ctp:000001")
    order = await account.submit("ctp.SHFE.rb2601", "buy", 1, quote.ask, offset="open", wait="filled")
```

``SyncClient`` is the same API without ``await``, for scripts and notebooks.
"""

from tradebus.client.account import Account, Wait
from tradebus.client.client import Client
from tradebus.client.errors import (
    ClientError,
    CommandRefused,
    NotPermitted,
    OrderFailed,
    OrderTimeout,
    UnknownSymbol,
    VenueDown,
)
from tradebus.client.history import BarSeries
from tradebus.client.quote import Quote
from tradebus.client.sync import SyncClient
from tradebus.client.target import Holding, Leg, TargetPosTask, plan

__all__ = [
    "Account",
    "BarSeries",
    "Client",
    "ClientError",
    "CommandRefused",
    "Holding",
    "Leg",
    "NotPermitted",
    "OrderFailed",
    "OrderTimeout",
    "Quote",
    "SyncClient",
    "TargetPosTask",
    "UnknownSymbol",
    "VenueDown",
    "Wait",
    "plan",
]
