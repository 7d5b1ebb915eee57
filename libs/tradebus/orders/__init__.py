"""The order model shared by everything that folds ``td.evt.*``: the explicit state table
(:mod:`tradebus.orders.state`) and the fold of an order's events (:mod:`tradebus.orders.order`).

td_exec folds its own events with it, and the edges fold the same stream with it, so an edge can never
show an order in a state the execution service would not have put it in.
"""
