"""The lock files (requirements/*.lock, written by scripts/lock) agree with pyproject.toml.

Every install path installs from them with --require-hashes, so a dependency added to or raised in
pyproject.toml without `scripts/lock` must fail here rather than install something unpinned.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;(?P<marker>[^\\]+))?")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
# The image's interpreter (Debian bookworm or python:3.11-slim on x86_64), besides the one running the tests.
IMAGE_ENV = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.2",
             "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
             "implementation_name": "cpython", "platform_python_implementation": "CPython"}


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: Marker | None
    hashes: int

    def applies(self, env: dict[str, str]) -> bool:
        return self.marker is None or self.marker.evaluate(env)


def read_lock(name: str) -> list[Pin]:
    """The pins of one lock file, each with the number of sha256 hashes that follow it."""
    pins: list[Pin] = []
    for block in re.split(r"\n(?=[A-Za-z0-9])", (REPO / "requirements" / name).read_text()):
        match = PIN.match(block)
        if match is None:
            continue
        marker = Marker(match["marker"].strip()) if match["marker"] else None
        pins.append(Pin(canonicalize_name(match["name"]), match["version"], marker, len(HASH.findall(block))))
    return pins


def pinned(pins: list[Pin], env: dict[str, str]) -> dict[str, str]:
    return {pin.name: pin.version for pin in pins if pin.applies(env)}


def check_satisfied(requirements: list[str], pins: list[Pin], lock: str) -> None:
    for env in (IMAGE_ENV, default_environment()):
        versions = pinned(pins, env)
        for text in requirements:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            name = canonicalize_name(req.name)
            assert name in versions, f"{lock} has no {name}: run scripts/lock"
            assert req.specifier.contains(versions[name], prereleases=True), (
                f"{lock} pins {name}=={versions[name]}, pyproject.toml wants {req.specifier}: run scripts/lock")


def test_every_lock_entry_is_pinned_with_hashes() -> None:
    for lock in ("runtime.lock", "test.lock", "build.lock"):
        pins = read_lock(lock)
        assert len(pins) >= 3, f"{lock} parsed to {len(pins)} pins"
        for pin in pins:
            assert pin.hashes >= 1, f"{lock}: {pin.name} has no sha256 hash"


def test_runtime_lock_satisfies_pyproject_dependencies() -> None:
    check_satisfied(PYPROJECT["project"]["dependencies"], read_lock("runtime.lock"), "runtime.lock")


def test_test_lock_satisfies_dependencies_and_test_extra() -> None:
    wanted = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["test"]
    check_satisfied(wanted, read_lock("test.lock"), "test.lock")


def test_build_lock_satisfies_the_build_system() -> None:
    check_satisfied(PYPROJECT["build-system"]["requires"], read_lock("build.lock"), "build.lock")


def test_image_runs_the_versions_the_tests_ran() -> None:
    test_pins = pinned(read_lock("test.lock"), IMAGE_ENV)
    for name, version in pinned(read_lock("runtime.lock"), IMAGE_ENV).items():
        assert test_pins.get(name) == version, f"runtime.lock {name}=={version}, test.lock {test_pins.get(name)}"


def test_this_environment_was_installed_from_the_lock() -> None:
    if sys.prefix == sys.base_prefix:
        pytest.skip("not running in a virtualenv made by scripts/bootstrap")
    stale = {}
    for name, version in pinned(read_lock("test.lock"), default_environment()).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            stale[name] = f"{installed} (lock: {version})"
    assert not stale, f"run ./scripts/bootstrap: {stale}"


@pytest.mark.parametrize("text", ["futu-api>=10.11", "not-a-locked-package>=1"])
def test_the_check_fails_for_a_missing_or_too_old_pin(text: str) -> None:
    pins = [Pin("futu-api", "10.0", None, 1)]
    with pytest.raises(AssertionError, match="run scripts/lock"):
        check_satisfied([text], pins, "x.lock")


def _pip_installs(text: str) -> list[str]:
    """Every `pip install …` command in a shell script or Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [m.group(0) for m in re.finditer(r"pip install[^;&\n]*", joined)]


@pytest.mark.parametrize("path", ["scripts/bootstrap", "Dockerfile"])
def test_every_install_path_installs_from_the_locks(path: str) -> None:
    """Third-party packages only from a lock with --require-hashes; tradebus itself only with --no-deps."""
    installs = _pip_installs((REPO / path).read_text())
    assert installs, f"{path} installs nothing"
    for command in installs:
        if "--no-deps" in command:
            continue  # tradebus itself, its dependencies already installed from the lock
        assert "--require-hashes" in command and ".lock" in command, f"{path}: unlocked `{command}`"


def test_wheelhouse_downloads_exactly_the_image_locks() -> None:
    script = (REPO / "scripts" / "wheelhouse").read_text()
    assert "--require-hashes" in script
    assert "-r requirements/runtime.lock" in script and "-r requirements/build.lock" in script
