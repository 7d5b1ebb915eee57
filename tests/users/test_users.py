"""The edge user store and ``tradebus user``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tradebus.users import UserError, UserStore, WeakPassword, WrongPassword, resolve_accounts


def test_add_verify_remove(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    store.add("alice", "correct horse", ["ctp:000001", "futu:*"])
    assert store.verify_password("alice", "correct horse") is not None
    assert store.verify_password("alice", "wrong horse!") is None
    assert store.verify_password("nobody", "correct horse") is None
    user = store.get("alice")
    assert user is not None and user.may_use("ctp", "000001") and user.may_use("futu", "123")
    assert not user.may_use("ctp", "000002")
    assert "correct horse" not in (tmp_path / "users.json").read_text()
    assert (tmp_path / "users.json").stat().st_mode & 0o077 == 0
    store.remove("alice")
    assert store.get("alice") is None


@pytest.mark.parametrize(("name", "password", "accounts"), [
    ("bad name", "long enough", ["ctp:1"]),
    ("bob", "short", ["ctp:1"]),
    ("bob", "long enough", ["binance:1"]),
    ("bob", "long enough", ["ctp"]),
])
def test_add_refuses_bad_input(tmp_path: Path, name: str, password: str, accounts: list[str]) -> None:
    with pytest.raises(UserError):
        UserStore(tmp_path / "u.json").add(name, password, accounts)


def test_duplicate_user_refused(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "u.json")
    store.add("bob", "long enough", ["ctp:1"])
    with pytest.raises(UserError, match="exists"):
        store.add("bob", "another one", ["ctp:1"])


def test_fmz_keys_are_hashed_and_checked(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "u.json")
    store.add("carol", "long enough", ["futu:*"])
    access, secret = store.issue_fmz_key("carol")
    assert secret not in (tmp_path / "u.json").read_text()
    user = store.verify_fmz(access, secret)
    assert user is not None and user.name == "carol"
    assert store.verify_fmz(access, secret[:-1] + "0" if secret[-1] != "0" else secret[:-1] + "1") is None
    assert store.verify_fmz("tbunknown", secret) is None


def test_change_password_needs_the_old_one_and_keeps_the_rest(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    store.add("carol", "carol-password", ["ctp:000001"])
    access, secret = store.issue_fmz_key("carol")
    with pytest.raises(WrongPassword):
        store.change_password("carol", "not-it-at-all", "carol-new-password")
    with pytest.raises(WrongPassword):
        store.change_password("nobody", "carol-password", "carol-new-password")
    with pytest.raises(WeakPassword):
        store.change_password("carol", "carol-password", "short")
    assert store.verify_password("carol", "carol-password") is not None
    store.change_password("carol", "carol-password", "carol-new-password")
    reader = UserStore(tmp_path / "users.json")
    assert reader.verify_password("carol", "carol-password") is None
    changed = reader.verify_password("carol", "carol-new-password")
    assert changed is not None and changed.may_use("ctp", "000001")
    assert reader.verify_fmz(access, secret) is not None


def test_a_second_reader_sees_changes(tmp_path: Path) -> None:
    writer, reader = UserStore(tmp_path / "u.json"), UserStore(tmp_path / "u.json")
    assert reader.get("dave") is None
    writer.add("dave", "long enough", ["ctp:1"])
    assert reader.get("dave") is not None


def test_cli_add_list_remove(tmp_path: Path) -> None:
    env = {**os.environ, "TRADEBUS_DATA_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "tradebus", "user"]
    added = subprocess.run([*cmd, "add", "erin", "--accounts", "ctp:000001", "--password-stdin", "--fmz"],
                           input="s3cret-pass\n", env=env, capture_output=True, text=True, check=True)
    assert "access_key=" in added.stdout and "secret_key=" in added.stdout
    listed = subprocess.run([*cmd, "list"], env=env, capture_output=True, text=True, check=True)
    assert "erin  ctp:000001" in listed.stdout and "argon2" not in listed.stdout
    again = subprocess.run([*cmd, "add", "erin", "--accounts", "ctp:1", "--password-stdin"], input="whatever1\n",
                           env=env, capture_output=True, text=True)
    assert again.returncode == 1 and "exists" in again.stderr
    reset = subprocess.run([*cmd, "password", "erin", "--password-stdin"], input="reset-pass-1\n", env=env,
                           capture_output=True, text=True, check=True)
    assert "password of erin changed" in reset.stdout and "reset-pass-1" not in reset.stdout + reset.stderr
    assert UserStore(tmp_path / "users.json").verify_password("erin", "reset-pass-1") is not None
    short = subprocess.run([*cmd, "password", "erin", "--password-stdin"], input="short\n", env=env,
                           capture_output=True, text=True)
    assert short.returncode == 1 and "too short" in short.stderr
    missing = subprocess.run([*cmd, "password", "nobody", "--password-stdin"], input="long-enough-1\n", env=env,
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "no user 'nobody'" in missing.stderr
    subprocess.run([*cmd, "remove", "erin"], env=env, capture_output=True, text=True, check=True)
    assert UserStore(tmp_path / "users.json").get("erin") is None


def test_wildcard_grants_resolve_to_the_venue_accounts(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    user = store.add("carol", "carol-secret-3", ["ctp:*", "futu:281756", "futu:*", "sim:SIM-HK"])
    venues = {"ctp": ["000001", "000002"], "futu": ["281756", "999"], "sim": ["SIM-HK", "SIM-US"]}
    assert resolve_accounts(user, venues) == [("ctp", "000001"), ("ctp", "000002"), ("futu", "281756"),
                                              ("futu", "999"), ("sim", "SIM-HK")]  # sim:SIM-US not granted
    assert resolve_accounts(user, {}) == [("futu", "281756"), ("sim", "SIM-HK")]  # venues unknown: explicit only
    assert user.wildcard_venues() == ["ctp", "futu"]
