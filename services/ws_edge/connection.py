"""One WebSocket connection's life, the same for a webctp session and a console session."""

from __future__ import annotations

from typing import Protocol

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ws_edge.channel import Channel


class FrameHandler(Protocol):
    async def handle_frame(self, frame: str | bytes) -> None: ...

    async def closed(self) -> None: ...


def remote_address(conn: ServerConnection) -> str:
    return str(conn.remote_address[0]) if conn.remote_address else ""


async def run_connection(conn: ServerConnection, channel: Channel, session: FrameHandler,
                         live: set[FrameHandler]) -> None:
    """Hand the client's frames to ``session`` one at a time (as webctp does) until the socket closes,
    then let the session give back what it held and stop its writer."""
    channel.start()
    live.add(session)
    try:
        async for frame in conn:
            await session.handle_frame(frame)
    except ConnectionClosed:
        pass
    finally:
        live.discard(session)
        await session.closed()
        await channel.stop()
