"""ctp_sim: a simulated CTP front (trading + market data) over the simulated China futures market.

Run it with ``python -m ctp_sim`` (or ``ctp_sim``)::

    ctp_sim --td-port 40001 --md-port 40011 --state-dir ./ctp_sim_state \\
            --user 000001 --password 123456 --tick-interval 0.5

and point the services at ``sim://127.0.0.1:40001`` (trading) and ``sim://127.0.0.1:40011``
(market data): :func:`tradebus.ctp.api.create_trader_api` / ``create_md_api`` then hand them the
API double of :mod:`tradebus.ctp.sim_api`, which calls the real openctp-ctp SPI with real structs.
The protocol between the two is in :mod:`tradebus.ctp.wire`. BrokerID defaults to ``9999``;
terminal authentication uses SimNow's public ``simnow_client_test`` / ``0000000000000000``
(``--app-id ''`` turns it off). Every setting also reads a ``CTP_SIM_*`` environment variable.

Known simplifications (everything else follows CTP as described in broker.py, fields.py, md.py):
exchange holidays are not modelled (weekends are); order modification (ActionFlag '3'), FOK,
parked/conditional orders, options and combinations are refused as bad fields; after
``ReqUserLogout`` the session stays connected (a real front closes it); YdPosition in position queries is the current
yesterday volume, not the static start-of-day figure.
"""
