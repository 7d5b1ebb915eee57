"""The OpenD API port at the byte level: framing, handshake, login gating, bad packets."""

from __future__ import annotations

import hashlib
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from api_conftest import ServerThread, new_market

from opend_sim.api import framing, pb
from opend_sim.api.server import NOT_LOGGED_IN, SHA1_MISMATCH, UNSUPPORTED


class RawClient:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)

    def close(self) -> None:
        self.sock.close()

    def send_packet(self, proto_id: int, serial: int, body: bytes, *, fmt: int = 0, sha1: bytes | None = None,
                    magic: bytes = b"FT") -> None:
        head = framing.HEADER.pack(magic[:1], magic[1:2], proto_id, fmt, 0, serial, len(body),
                                   sha1 if sha1 is not None else hashlib.sha1(body).digest(), b"\0" * 8)
        self.sock.sendall(head + body)

    def _read_exactly(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by server")
            buf += chunk
        return buf

    def read(self) -> tuple[int, int, int, Any]:
        """(proto_id, fmt, serial, Response) of the next packet, after checking its SHA1."""
        proto_id, fmt, serial, body_len, sha1 = framing.unpack_header(self._read_exactly(framing.HEADER_SIZE))
        body = self._read_exactly(body_len)
        assert hashlib.sha1(body).digest() == sha1
        rsp = pb.response(proto_id)
        rsp.ParseFromString(body)
        return proto_id, fmt, serial, rsp

    def request(self, proto_id: int, req: Any, serial: int, **kw: Any) -> Any:
        self.send_packet(proto_id, serial, req.SerializeToString(), **kw)
        got_id, fmt, got_serial, rsp = self.read()
        assert (got_id, fmt, got_serial) == (proto_id, 0, serial)
        return rsp

    def init_connect(self, serial: int = 100, enc: int = -1) -> Any:
        req = pb.for_proto(1001).Request()
        req.c2s.clientVer = 300
        req.c2s.clientID = "raw-test"
        req.c2s.recvNotify = True
        req.c2s.packetEncAlgo = enc
        return self.request(1001, req, serial)


def keep_alive_req() -> Any:
    req = pb.for_proto(1004).Request()
    req.c2s.time = 1
    return req


@pytest.fixture
def srv() -> Iterator[ServerThread]:
    server = ServerThread(new_market, unsub_min_seconds=0.0)
    server.start()
    yield server
    server.shutdown()


@pytest.fixture
def client(srv: ServerThread) -> Iterator[RawClient]:
    c = RawClient(srv.port)
    yield c
    c.close()


def test_header_layout_is_44_bytes_little_endian() -> None:
    packet = framing.pack(1001, 0x1477, b"abc")
    assert framing.HEADER_SIZE == 44 and len(packet) == 47
    assert packet[:2] == b"FT"
    assert struct.unpack_from("<I", packet, 2)[0] == 1001
    assert struct.unpack_from("<I", packet, 8)[0] == 0x1477
    assert struct.unpack_from("<I", packet, 12)[0] == 3
    assert packet[16:36] == hashlib.sha1(b"abc").digest()
    with pytest.raises(framing.FrameError):
        framing.unpack_header(b"XX" + packet[2:44])


def test_init_connect_and_keep_alive_echo_serial(client: RawClient) -> None:
    rsp = client.init_connect(serial=4242)
    assert rsp.retType == 0
    assert rsp.s2c.keepAliveInterval == 10 and len(rsp.s2c.connAESKey) == 16 and rsp.s2c.connID > 0
    ka = client.request(1004, keep_alive_req(), serial=4243)
    assert ka.retType == 0 and ka.s2c.time > 1_600_000_000


def test_conn_ids_are_unique_per_socket(srv: ServerThread) -> None:
    a, b = RawClient(srv.port), RawClient(srv.port)
    try:
        assert a.init_connect().s2c.connID != b.init_connect().s2c.connID
    finally:
        a.close()
        b.close()


def test_encryption_is_refused_clearly(client: RawClient) -> None:
    rsp = client.init_connect(enc=2)
    assert rsp.retType == -1 and "plaintext" in rsp.retMsg


def test_unknown_proto_is_unsupported(client: RawClient) -> None:
    client.init_connect()
    client.send_packet(3999, 7, b"")
    proto_id, _fmt, serial, rsp = client.read()
    assert (proto_id, serial, rsp.retType, rsp.retMsg) == (3999, 7, -1, UNSUPPORTED)


def test_calls_before_init_connect_are_refused(client: RawClient) -> None:
    rsp = client.request(1004, keep_alive_req(), serial=5)
    assert rsp.retType == -1 and "InitConnect" in rsp.retMsg


def test_json_request_gets_protobuf_reply(client: RawClient) -> None:
    from google.protobuf import json_format

    client.init_connect()
    body = json_format.MessageToJson(keep_alive_req()).encode()
    client.send_packet(1004, 9, body, fmt=1)
    proto_id, fmt, serial, rsp = client.read()
    assert (proto_id, fmt, serial, rsp.retType) == (1004, 0, 9, 0)


def test_bad_sha1_and_bad_body_cost_one_request_only(client: RawClient) -> None:
    client.init_connect()
    client.send_packet(1004, 11, keep_alive_req().SerializeToString(), sha1=b"\1" * 20)
    _pid, _fmt, serial, rsp = client.read()
    assert (serial, rsp.retType, rsp.retMsg) == (11, -1, SHA1_MISMATCH)
    client.send_packet(1004, 12, b"\xff\xff\xff\xff")
    _pid, _fmt, serial, rsp = client.read()
    assert serial == 12 and rsp.retType == -1 and "decode" in rsp.retMsg
    assert client.request(1004, keep_alive_req(), serial=13).retType == 0


def test_bad_magic_closes_only_that_connection(srv: ServerThread, client: RawClient) -> None:
    other = RawClient(srv.port)
    try:
        other.init_connect()
        client.init_connect()
        client.send_packet(1004, 1, keep_alive_req().SerializeToString(), magic=b"XX")
        with pytest.raises(ConnectionError):
            client.read()
        assert other.request(1004, keep_alive_req(), serial=2).retType == 0
        fresh = RawClient(srv.port)
        assert fresh.init_connect().retType == 0
        fresh.close()
    finally:
        other.close()


def test_before_login_init_connect_is_refused_then_accepted(srv: ServerThread, client: RawClient) -> None:
    srv.login.set(False)
    rsp = client.init_connect(serial=1)
    assert rsp.retType == -1 and rsp.retMsg == NOT_LOGGED_IN
    srv.login.set(True)
    assert client.init_connect(serial=2).retType == 0


def test_after_logout_api_calls_are_refused_but_state_is_readable(srv: ServerThread, client: RawClient) -> None:
    client.init_connect()
    srv.login.set(False)
    req = pb.for_proto(3004).Request()
    sec = req.c2s.securityList.add()
    sec.market, sec.code = 1, "00700"
    rsp = client.request(3004, req, serial=3)
    assert rsp.retType == -1 and rsp.retMsg == NOT_LOGGED_IN
    state_req = pb.for_proto(1002).Request()
    state_req.c2s.userID = 1
    state = client.request(1002, state_req, serial=4)
    assert state.retType == 0 and state.s2c.qotLogined is False and state.s2c.trdLogined is False


def test_place_order_packet_id_is_accepted_once(srv: ServerThread, client: RawClient) -> None:
    conn_id = client.init_connect().s2c.connID
    acc = next(a for a in srv.call(lambda: srv.server.trading.accounts) if a.env == 0 and a.market == "HK")
    bid = srv.call(lambda: srv.market.quote("HK", "00700")).bids[-1][0]
    req = pb.for_proto(2202).Request()
    c2s = req.c2s
    c2s.packetID.connID, c2s.packetID.serialNo = conn_id, 77
    c2s.header.trdEnv, c2s.header.accID, c2s.header.trdMarket = 0, acc.acc_id, 1
    c2s.trdSide, c2s.orderType, c2s.code, c2s.qty, c2s.price, c2s.secMarket = 1, 1, "00700", 100, bid, 1
    first = client.request(2202, req, serial=77)
    assert first.retType == 0 and first.s2c.orderIDEx
    # no order push can come between the replies: this connection never sent Trd_SubAccPush
    again = client.request(2202, req, serial=78)
    assert again.retType == -1 and "packetID" in again.retMsg
