"""``python -m opend_sim`` / ``opend_sim``: a stand-in for the command-line Futu OpenD binary."""

from __future__ import annotations

import asyncio
import sys

from opend_sim import options
from opend_sim.app import run
from opend_sim.scenarios import SCENARIOS, scenario
from tradebus.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if options.wants_help(args):
        print("\n".join(options.help_lines()))
        print(f"scenarios: {', '.join(SCENARIOS)}")
        return 0
    try:
        opts = options.parse(args)
        chosen = scenario(opts.scenario)
    except (options.UsageError, KeyError) as exc:
        print(f"opend_sim: {exc.args[0]}", file=sys.stderr)
        return 1
    _configure_logging(opts)
    return asyncio.run(run(opts, chosen))


# OpenD's -log_level -> our diagnostic log level (stderr; the console on stdout is OpenD's own).
LOG_LEVELS: dict[str, str] = {
    "no": "critical", "debug": "debug", "info": "info", "warning": "warning", "error": "error", "fatal": "critical",
}  # fmt: skip


def _configure_logging(opts: options.Options) -> None:
    secrets = [opts.pwd_md5, opts.verify_code, opts.pic_verify_code, opts.trade_pwd]
    secrets += [value for key, value in opts.opend_args.items() if key in ("login_pwd", "login_pwd_md5")]
    configure_logging("opend_sim", level=LOG_LEVELS[opts.log_level], secrets=[s for s in secrets if s])


if __name__ == "__main__":
    sys.exit(main())
