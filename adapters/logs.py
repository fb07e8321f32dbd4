"""Structured logs: JSON lines in production, readable console output on a terminal."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

from adapters.settings import Settings

_SECRET_KEY = re.compile(
    r"password|secret|token|authorization|api_key|card|cvc|payment_method|address|line[12]",
    re.IGNORECASE,
)


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Last line of defence: no secrets, card data or addresses leave the process in a log
    line, and emails keep only their first letter and domain."""
    for key, value in event.items():
        if key == "event":
            continue
        if _SECRET_KEY.search(key):
            event[key] = "[redacted]"
        elif "email" in key.lower() and isinstance(value, str) and "@" in value:
            local, _, domain = value.partition("@")
            event[key] = f"{local[:1]}***@{domain}"
    return event


def add_trace_context(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """`trace_id` and `span_id` of the span the line is written in (an HTTP request, an
    activity), so a log line leads to its trace and back; nothing outside a span."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", trace.format_trace_id(context.trace_id))
        event.setdefault("span_id", trace.format_span_id(context.span_id))
    return event


def configure_logging(settings: Settings, *, process: str) -> None:
    """Configure structlog and the standard library once per process."""
    level = logging.getLevelName(settings.log_level.upper())
    console = settings.log_format == "console" or (
        settings.log_format == "auto" and sys.stderr.isatty()
    )
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_trace_context,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("stripe", "httpx", "httpcore", "asyncio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    structlog.contextvars.bind_contextvars(process=process)
