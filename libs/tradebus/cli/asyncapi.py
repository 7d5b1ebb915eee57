"""``tradebus asyncapi``: print the bus contract as AsyncAPI 3.0 (docs/asyncapi.yaml is its output)."""

from __future__ import annotations

import argparse
import sys


def asyncapi_main(argv: list[str], config_path: str | None) -> int:
    del config_path  # the code is the only input
    parser = argparse.ArgumentParser(prog="tradebus asyncapi", description="print the AsyncAPI 3.0 document")
    parser.add_argument("--output", help="write to this file instead of stdout (e.g. docs/asyncapi.yaml)")
    args = parser.parse_args(argv)
    try:
        from tradebus.asyncapi import render

        text = render()
    except ImportError as exc:
        print(f"tradebus asyncapi: {exc} (pip install pyyaml)", file=sys.stderr)
        return 1
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        print(text, end="")
    return 0
