"""A stand-in for OpenD that behaves as the mock in ostai's own test suite is described to behave.

* After 0.1 s it prints ``req_phone_verify_code [from mock-futuopend]`` and a ``>`` prompt.
* A line ``input_phone_verify_code -code=<anything>`` is answered 0.1 s later by
  ``Login successful [from mock-futuopend]``; any other line gets the prompt again.
* While ``FUTU_RETRY`` (the supervisor's restart counter, passed in the environment) is below 2, it exits
  with code 3 1.2 s after it started: that is what drives ostai's three login rounds.

Extra for our tests only: ``MOCK_OPEND_RECORD`` names a file that gets one JSON line per start (its
arguments and the ``FUTU_RETRY`` it saw), ``MOCK_OPEND_PROMPT_DELAY`` replaces the 0.1 s first delay, and
``exit`` typed at it ends it (the broker's polite stop; the original is simply killed).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

CRASH_AFTER_S = 1.2
ANSWER_DELAY_S = 0.1


def _retry() -> int:
    digits = ""
    for ch in os.environ.get("FUTU_RETRY", "").strip():
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else 0


def _say(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def main() -> None:
    retry = _retry()
    record = os.environ.get("MOCK_OPEND_RECORD")
    if record:
        with open(record, "a", encoding="utf-8") as out:
            out.write(json.dumps({"argv": sys.argv[1:], "futu_retry": retry}) + "\n")
    if retry < 2:
        threading.Timer(CRASH_AFTER_S, lambda: os._exit(3)).start()
    time.sleep(float(os.environ.get("MOCK_OPEND_PROMPT_DELAY", "0.1")))
    _say("req_phone_verify_code [from mock-futuopend]\n>")
    logged_in = False
    for line in sys.stdin:
        command = line.strip()
        if command == "exit":  # the broker's polite stop (the original mock just gets SIGTERM)
            os._exit(0)
        if logged_in:
            continue
        if command.startswith("input_phone_verify_code -code="):
            time.sleep(ANSWER_DELAY_S)
            _say("Login successful [from mock-futuopend]\n")
            logged_in = True
        else:
            _say(">")
    threading.Event().wait()  # stdin closed: stay up until stopped (or the crash timer fires)


if __name__ == "__main__":
    main()
