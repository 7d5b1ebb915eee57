"""Logging: structlog for our code, stdlib loggers (futu, nats, websockets) routed into the same stream.

JSON lines when the log stream is not a TTY (what ``tradebus up`` and containers read), readable colours
on a TTY. The stream is stderr, or stdout with ``[log] stream = "stdout"`` (what compose sets). Every
line carries ``service``; every line passes the redactor before rendering, so nothing
— an exception text, a venue echo, a library's debug line — prints a secret; then the escaper
(``log_escape.py``), so no text from outside — a user name, a frame, a path — can break a line,
forge another one or send escape codes to a terminal.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from tradebus.log_escape import escape_processor
from tradebus.redact import REDACTOR


def _add_service(service: str) -> structlog.types.Processor:
    def processor(_logger: Any, _method: str, event_dict: Any) -> Any:
        event_dict.setdefault("service", service)
        return event_dict

    return processor


def log_stream(name: str) -> Any:
    """The stream ``[log] stream`` names: ``stderr`` (the default) or ``stdout``."""
    return sys.stdout if name == "stdout" else sys.stderr


def configure_logging(service: str, *, level: str = "info", fmt: str = "auto",
                      secrets: list[str] | None = None, stream: Any = None) -> None:
    stream = stream if stream is not None else sys.stderr
    for secret in secrets or ():
        REDACTOR.add_secret(secret)
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service(service),
        structlog.processors.format_exc_info,
        REDACTOR,
        escape_processor,  # last: whatever the processors above added is escaped too
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Chatty third-party loggers stay at warning unless we debug.
    for noisy in ("asyncio", "websockets", "nats"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level) if level != "debug" else logging.DEBUG)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str | None = None, **context: Any) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name, **context)
