from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradebus import subjects
from tradebus.subjects import TOKEN_RE, escape_token, unescape_token

valid_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@pytest.mark.parametrize(
    ("symbol", "token"),
    [
        ("00700", "00700"),
        ("HK.00700", "HK_2E00700"),
        ("BRK.B", "BRK_2EB"),
        ("SP m2505&m2509", "SP_20m2505_26m2509"),
        ("rb_2601", "rb_5F2601"),
        ("中证500", "_E4_B8_AD_E8_AF_81500"),
        ("a*b>c", "a_2Ab_3Ec"),
    ],
)
def test_escape_token_with_known_symbols_gives_expected_token(symbol: str, token: str) -> None:
    assert escape_token(symbol) == token
    assert unescape_token(token) == symbol


@given(valid_text)
def test_escape_token_round_trips_any_text_into_the_safe_alphabet(value: str) -> None:
    token = escape_token(value)
    assert TOKEN_RE.match(token)
    assert unescape_token(token) == value


@given(valid_text, valid_text)
def test_escape_token_is_injective(a: str, b: str) -> None:
    if a != b:
        assert escape_token(a) != escape_token(b)


@pytest.mark.parametrize("bad", ["", "a.b", "a b", "_4", "_zz", "_41", "_FF"])
def test_unescape_token_with_malformed_token_raises(bad: str) -> None:
    with pytest.raises(ValueError):
        unescape_token(bad)


def test_escape_token_with_empty_string_raises() -> None:
    with pytest.raises(ValueError):
        escape_token("")


def test_subject_builders_put_escaped_tokens_in_place() -> None:
    assert subjects.md_tick("futu", "US", "BRK.B") == "md.tick.futu.US.BRK_2EB"
    assert subjects.md_bar("ctp", "DCE", "SP m2505&m2509") == "md.bar.1m.ctp.DCE.SP_20m2505_26m2509"
    assert subjects.td_evt("ctp", "000001", "O-1.2") == "td.evt.ctp.000001.O-1_2E2"
    assert subjects.parse_td_evt("td.evt.ctp.000001.O-1_2E2") == ("ctp", "000001", "O-1.2")
    assert subjects.parse_md_tick("md.tick.futu.HK.00700") == ("futu", "HK", "00700")
    assert subjects.auth_state("main") == "auth.opend.main.state"
    assert subjects.sys_health("md_ingest") == "sys.health.md_ingest"
    with pytest.raises(ValueError):
        subjects.sys_health("md.ingest")


def test_subject_builders_refuse_unknown_venue() -> None:
    with pytest.raises(ValueError, match="unknown venue"):
        subjects.md_tick("binance", "X", "BTC")
