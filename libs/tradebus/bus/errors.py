from __future__ import annotations


class BusError(RuntimeError):
    """Base of every bus failure tradebus raises."""


class RequestTimeout(BusError):
    def __init__(self, subject: str, timeout: float) -> None:
        super().__init__(f"no reply on {subject} within {timeout:g}s (is the service that answers it running?)")
        self.subject = subject
        self.timeout = timeout


class RequestFailed(BusError):
    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(f"request on {subject} failed: {reason}")
        self.subject = subject
        self.reason = reason
