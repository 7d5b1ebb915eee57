"""The double ↔ front frames: exact doubles (CTP's DBL_MAX "no value"), text, and bad input refused."""

from __future__ import annotations

import pytest

from tradebus.ctp.wire import HEADER, MAX_FRAME, Frame, ProtocolError, check_length, decode_payload, encode

DBL_MAX = 1.7976931348623157e308


def test_a_depth_frame_round_trips_exactly() -> None:
    body = {"InstrumentID": "rb2601", "LastPrice": 3512.0, "ClosePrice": DBL_MAX, "Turnover": 0.1 + 0.2,
            "Volume": 12, "StatusMsg": "未成交"}
    frame = Frame(kind="rtn", cb="OnRtnDepthMarketData", st="CThostFtdcDepthMarketDataField", body=body)
    data = encode(frame)
    (length,) = HEADER.unpack_from(data)
    assert length == len(data) - HEADER.size
    decoded = decode_payload(data[HEADER.size:])
    assert decoded == frame
    assert decoded.body is not None and decoded.body["ClosePrice"] == DBL_MAX
    assert type(decoded.body["Volume"]) is int and type(decoded.body["LastPrice"]) is float


def test_undecodable_and_oversized_frames_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError):
        decode_payload(b"\xc1not a frame")
    with pytest.raises(ProtocolError):
        decode_payload(b'{"kind": "hello"}')  # JSON is not the wire format
    with pytest.raises(ProtocolError):
        check_length(MAX_FRAME + 1)
