"""docs/asyncapi.yaml is the generated contract: it matches the code, and the official AsyncAPI parser
(npm @asyncapi/parser) finds it valid."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from node_ws import npm_install

from tradebus.asyncapi import build, covers, render

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "asyncapi.yaml"


@pytest.fixture(scope="session")
def asyncapi_parser(tmp_path_factory: pytest.TempPathFactory) -> str:
    return npm_install(tmp_path_factory, "asyncapi_parser", "@asyncapi/parser")


def test_committed_document_matches_the_code() -> None:
    assert DOC.read_text() == render(), "stale: run `tradebus asyncapi --output docs/asyncapi.yaml`"


def test_official_parser_finds_it_valid(asyncapi_parser: str, tmp_path: Path) -> None:
    script = Path(__file__).parent / "js" / "validate_asyncapi.js"
    result = subprocess.run(["node", str(script), str(DOC)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "NODE_PATH": asyncapi_parser})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid AsyncAPI 3.0.0" in result.stdout
    # And the check can fail: a document with a wrong operation action is refused.
    broken = tmp_path / "broken.yaml"
    broken.write_text(render().replace("action: send", "action: publish", 1))
    refused = subprocess.run(["node", str(script), str(broken)], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "NODE_PATH": asyncapi_parser})
    assert refused.returncode == 1 and "action" in refused.stdout


def test_addresses_and_users_come_from_the_code() -> None:
    doc = build()
    channels = doc["channels"]
    assert channels["tdCmd"]["address"] == "td.cmd.{venue}.{account}"
    assert channels["mdBar"]["address"] == "md.bar.{interval}.{venue}.{exchange}.{symbol}"
    submit = doc["operations"]["sendTradeCommand"]
    assert "bus users (own accounts only)" in submit["x-tradebus-users"]
    assert "operator" not in submit["x-tradebus-users"]  # the operator reads, never trades
    assert {m["$ref"].rsplit("/", 1)[1] for m in submit["reply"]["messages"]} >= {"CommandAccepted", "CommandDenied"}
    tick = doc["components"]["schemas"]["Tick"]
    assert tick["properties"]["type"] == {"enum": ["Tick"]}


@pytest.mark.parametrize(("pattern", "subject", "expected"), [
    ("md.tick.>", "md.tick.*.*.*", True),
    ("td.cmd.ctp.000001", "td.cmd.*.*", False),
    ("td.cmd.*.*", "td.cmd.*.*", True),
    ("md.>", "md", False),
    ("sys.health.md_ingest", "sys.health.*", False),
])
def test_permission_cover(pattern: str, subject: str, expected: bool) -> None:
    assert covers(pattern, subject) is expected
