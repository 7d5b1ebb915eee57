"""ws_edge: the bus in webctp's JSON-over-WebSocket protocol, for CTP and Futu instruments.

See ``docs/ws_edge.md``; the protocol reference is webctp's (``/md/`` and ``/td/``).
"""
