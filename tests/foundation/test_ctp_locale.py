from __future__ import annotations

import pytest

import tradebus.ctp as ctp


def test_import_ctp_modules_refuses_with_the_fix_when_locale_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctp, "gb18030_locale_available", lambda: False)
    with pytest.raises(ctp.CtpLocaleMissing) as raised:
        ctp.import_ctp_modules()
    assert "zh_CN.GB18030" in str(raised.value)
    assert "localedef -c -f GB18030 -i zh_CN zh_CN.GB18030" in str(raised.value)


def test_import_ctp_modules_gives_the_native_modules_when_locale_exists() -> None:
    if not ctp.gb18030_locale_available():
        pytest.fail(ctp.LOCALE_HELP)  # CI installs the locale: its absence is a broken machine, not a skip
    md, td = ctp.import_ctp_modules()
    assert hasattr(md, "CThostFtdcMdApi") and hasattr(td, "CThostFtdcTraderApi")
