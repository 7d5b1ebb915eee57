"""The whole ``opend_sim`` process: the API port opens at startup but serves only after the login.

Runs only when ``opend_sim.api`` (written separately) is importable. Frames are built here by hand
from docs/simulators.md, 'OpenD API framing' (not with the server's own framing code) and bodies with futu's pb classes.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct
import tempfile
from typing import TYPE_CHECKING, Any

from opend_sim.state_dir import trust_device
from tradebus.futu.loader import import_futu

if TYPE_CHECKING:
    from pathlib import Path

    from opend_console_harness import OpenDLauncher

HEADER = struct.Struct("<1s1sI2B2I20s8s")


def _import_pb() -> tuple[Any, Any]:
    import_futu(tempfile.mkdtemp(prefix="futu-home-"))  # futu's side effects contained by the one loader
    from futu.common.pb import GetGlobalState_pb2, InitConnect_pb2

    return InitConnect_pb2, GetGlobalState_pb2


InitConnect_pb2, GetGlobalState_pb2 = _import_pb()


class RawApiClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.serial = 4242

    @classmethod
    async def connect(cls, port: int) -> RawApiClient:
        return cls(*await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5))

    async def call(self, proto_id: int, request: Any, response_cls: Any) -> Any:
        self.serial += 1
        body = request.SerializeToString()
        self.writer.write(
            HEADER.pack(b"F", b"T", proto_id, 0, 0, self.serial, len(body), hashlib.sha1(body).digest(), b"\0" * 8)
            + body
        )
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readexactly(HEADER.size), 10)
        _f, _t, got_proto, fmt, _ver, serial, length, sha1, _res = HEADER.unpack(head)
        payload = await asyncio.wait_for(self.reader.readexactly(length), 10)
        assert (got_proto, fmt, serial) == (proto_id, 0, self.serial)
        assert hashlib.sha1(payload).digest() == sha1
        response = response_cls()
        response.ParseFromString(payload)
        return response

    async def init_connect(self) -> Any:
        req = InitConnect_pb2.Request()
        req.c2s.clientVer = 1011
        req.c2s.clientID = "tradebus-test"
        req.c2s.recvNotify = True
        req.c2s.packetEncAlgo = -1
        return await self.call(1001, req, InitConnect_pb2.Response)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def test_api_port_serves_only_after_login(opend: OpenDLauncher) -> None:
    proc = await opend.start("sms")
    await proc.expect("API listening address")
    assert proc.api_port is not None
    await proc.expect("Command tips: req_phone_verify_code")

    # Like real OpenD the port accepts TCP before the login, but refuses the handshake.
    early = await RawApiClient.connect(proc.api_port)
    try:
        rsp = await early.init_connect()
        assert rsp.retType != 0
        assert "Need a phone verification code" in rsp.retMsg
    finally:
        await early.close()

    await proc.send("req_phone_verify_code")
    await proc.expect("Command tips: input_phone_verify_code")
    await proc.send("input_phone_verify_code -code=123456")
    await proc.expect("Login successful")

    client = await RawApiClient.connect(proc.api_port)
    try:
        rsp = await client.init_connect()
        assert rsp.retType == 0, rsp.retMsg
        assert rsp.s2c.loginUserID == 12345678
        state = GetGlobalState_pb2.Request()
        state.c2s.userID = rsp.s2c.loginUserID
        glob = await client.call(1002, state, GetGlobalState_pb2.Response)
        assert glob.retType == 0 and glob.s2c.qotLogined and glob.s2c.trdLogined
    finally:
        await client.close()
    await proc.send("exit")
    assert await proc.wait_exit() == 0


async def test_api_refused_again_after_force_logout(opend: OpenDLauncher, tmp_path: Path) -> None:
    trust_device(tmp_path / "state")
    proc = await opend.start("force_logout")
    await proc.expect("Login successful")
    await proc.expect("Need a phone verification code")
    assert proc.api_port is not None
    client = await RawApiClient.connect(proc.api_port)
    try:
        rsp = await client.init_connect()
        assert rsp.retType != 0
    finally:
        await client.close()


async def test_api_port_in_use_exits_1(opend: OpenDLauncher) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await opend.start("ok", api_port=str(port))
        await proc.expect("API server failed to start, address 127.0.0.1:")
        assert await proc.wait_exit() == 1
    assert not any("Logging in" in line for line in proc.lines)
