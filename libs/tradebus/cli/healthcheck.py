"""``tradebus healthcheck PORT|URL``: the container health check (slim images have no curl)."""

from __future__ import annotations

import argparse
import socket
import sys
import urllib.error
import urllib.request


def healthcheck_main(argv: list[str], config_path: str | None) -> int:
    del config_path
    parser = argparse.ArgumentParser(prog="tradebus healthcheck")
    parser.add_argument("target", help="a port on 127.0.0.1 or a full http:// URL of a /healthz endpoint, "
                                       "or tcp:PORT for a process that only accepts connections (simulators)")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    if args.target.startswith("tcp:"):
        return _tcp(int(args.target.removeprefix("tcp:")), args.timeout)
    url = args.target if args.target.startswith("http") else f"http://127.0.0.1:{int(args.target)}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            ok = response.status == 200
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {url} answered {exc.code}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unreachable: {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


def _tcp(port: int, timeout: float) -> int:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return 0
    except OSError as exc:
        print(f"unreachable: 127.0.0.1:{port}: {exc}", file=sys.stderr)
        return 1
