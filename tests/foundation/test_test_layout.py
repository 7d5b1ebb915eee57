"""Test directories have no ``__init__.py``, so pytest imports each test and helper module by its bare
name: two files with the same name in different directories would shadow each other."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_and_helper_module_name_is_unique() -> None:
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name != "conftest.py" and "__pycache__" not in p.parts)
    assert [name for name, count in names.items() if count > 1] == []


def test_no_test_imports_from_conftest() -> None:
    needle = "from " + "conftest import"  # split, so this file does not find itself
    offenders = [str(p.relative_to(TESTS)) for p in TESTS.rglob("*.py") if needle in p.read_text(encoding="utf-8")]
    assert offenders == [], "import the directory's uniquely named harness module instead"
