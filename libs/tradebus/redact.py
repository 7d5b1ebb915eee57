"""Masking of secrets and verify codes in log events.

Three nets, because a secret can reach a log line by many roads (an exception message, a venue's
echo, a stdlib logger of a third-party library):

1. by key — any event field whose name says it is secret (``password``, ``pwd_md5``, ``token``,
   ``verify_code``…) is replaced whole. A field named plain ``code`` is *not* secret (it is a denial
   or error code, which operators need to read); the one place a verify code travels under the key
   ``code`` — an ostai ``VERIFY_CODE`` / ``VERIFY_PIC_CODE`` frame — is masked by its ``type``, and
   every verify code is also registered by value (net 3) the moment it is received;
2. by pattern — text that *looks* like a credential assignment (``-login_pwd=…``, ``-code=…``,
   ``"password": "…"``, ``input_phone_verify_code -code=…``) is masked inside any string;
3. by value — every secret the process knows (from config, or registered at run time such as a
   verify code just received) is masked wherever it appears verbatim.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

MASK = "***"

_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|pwd|secret|token|auth_code|verify_code|pic_code|sms_code|api_key|access_key|secret_key|md5|"
    r"credential)",
    re.IGNORECASE,
)

_PATTERNS: tuple[re.Pattern[str], ...] = (
    # OpenD-style arguments and operation commands: -login_pwd=x, -login_pwd_md5=x, -code=x
    re.compile(r"(?i)(-{1,2}(?:login_pwd(?:_md5)?|pwd(?:_md5)?|password|code|token)[= ])(\S+)"),
    # key=value / key: value with a secret-sounding key
    re.compile(
        r"(?i)(\b(?:password|passwd|pass|pwd|pwd_md5|secret|secret_key|token|auth_token|auth_code|verify_code)\b"
        r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&]+)"
    ),
)

# ostai frames whose "code" is a verify code (everywhere else "code" names a denial or error code).
_CODE_FRAMES = frozenset({"VERIFY_CODE", "VERIFY_PIC_CODE"})


class Redactor:
    """Holds the known secret values; thread-safe because stdlib loggers log from SDK threads."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: tuple[str, ...] = ()
        for value in secrets:
            self.add_secret(value)

    def add_secret(self, value: str) -> None:
        # Very short values would mask ordinary words and numbers everywhere; codes are ≥ 3 chars.
        if len(value) < 3:
            return
        with self._lock:
            if value not in self._values:
                # Longest first, so a secret containing another is masked whole.
                self._values = tuple(sorted((*self._values, value), key=len, reverse=True))

    def text(self, value: str) -> str:
        for secret in self._values:
            if secret in value:
                value = value.replace(secret, MASK)
        for pattern in _PATTERNS:
            value = pattern.sub(lambda m: m.group(1) + MASK, value)
        return value

    def value(self, key: str | None, value: Any) -> Any:
        if key is not None and _SECRET_KEY.search(key) and value not in (None, "", b""):
            return MASK
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.text(value.decode("utf-8", "replace"))
        if isinstance(value, dict):
            kind = value.get("type")
            code_is_secret = isinstance(kind, str) and kind in _CODE_FRAMES
            return {k: MASK if code_is_secret and k == "code" else self.value(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.value(None, v) for v in value)
        return value

    def __call__(self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """structlog processor."""
        for key in list(event_dict):
            if key == "event":
                event_dict[key] = self.value(None, event_dict[key])
            else:
                event_dict[key] = self.value(key, event_dict[key])
        return event_dict


# The process-wide redactor: logging is process-wide by nature (stdlib root logger, structlog config).
REDACTOR = Redactor()
