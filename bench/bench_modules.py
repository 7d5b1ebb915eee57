"""Load another bench script as a module: several are named after the service they measure
(``td_exec.py``, ``ws_edge.py``, ``md_ingest.py``), so a plain import would find the service's package."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent


def load_bench(name: str) -> ModuleType:
    """``bench/<name>.py`` as module ``<name>_bench`` (it puts services/ and libs/ on the path itself)."""
    spec = importlib.util.spec_from_file_location(f"{name}_bench", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
