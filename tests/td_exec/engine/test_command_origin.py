"""td_exec acts only on commands that are requests from an inbox (issue 14).

A JetStream push consumer can be aimed at any subject (nats-server does not check its deliver
subject against its creator's permissions), so a user not allowed to publish ``td.cmd`` could store a
command in a stream it writes and have the server push it onto ``td.cmd.…``. Such a message has a
``$JS.ACK…`` reply subject, not an inbox: td_exec ignores it, and answers real requests as before.
"""

from __future__ import annotations

import msgspec
from nats.js.api import ConsumerConfig, DeliverPolicy, StreamConfig
from td_engine_helpers import Harness, fut_order

from tradebus.schemas.orders import CommandAccepted, QueryOrders
from tradebus.subjects import td_cmd


async def test_a_command_pushed_by_a_consumer_is_ignored(harness: Harness) -> None:
    client = harness.client
    assert client is not None
    pushed = fut_order("pushed-1", order_type="market")
    # The delivered message keeps its stored subject; one shaped like td.cmd.<venue>.<account> passes
    # td_exec's subject check, so only the reply subject tells it apart.
    await client.js.add_stream(StreamConfig(name="SMUGGLE", subjects=["smuggle.cmd.>"]))
    await client.js.publish(f"smuggle.cmd.{pushed.venue}.{pushed.account}", msgspec.json.encode(pushed))
    target = td_cmd(pushed.venue, pushed.account)
    # A push consumer delivers only while its deliver subject has a listener of its own (td_exec's
    # wildcard subscription is not enough): the attacker would provide one.
    witness = await client.nc.subscribe(target)
    await client.js.add_consumer("SMUGGLE", ConsumerConfig(deliver_subject=target, deliver_policy=DeliverPolicy.ALL))
    delivered = await witness.next_msg(timeout=5)
    assert delivered.reply.startswith("$JS.ACK.")
    # A real request after it is answered; the pushed one never became an order.
    assert isinstance(await harness.request(fut_order("real-1", order_type="market")), CommandAccepted)
    orders = await harness.request(QueryOrders(venue=pushed.venue, account=pushed.account))
    assert [o.client_order_id for o in orders.orders] == ["real-1"]  # type: ignore[attr-defined]
