"""Structured JSON logs (structlog on top of stdlib ``logging``).

One JSON object per line for ingot's loggers and for foreign ones (the kubernetes client logs
through stdlib), with MetalLB-like keys: ``ts``, ``level``, ``event``, ``logger``, ``component``
and per-call keys ``service``, ``pool``, ``ip``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

LEVELS = {
    "all": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "none": logging.CRITICAL + 10,
}
"""``--log-level`` values as MetalLB's (reference §1m)."""


def configure(
    *, level: str = "info", component: str = "controller", stream: TextIO | None = None
) -> None:
    """Install a JSON formatter on the root logger and configure structlog to use it.

    Raises:
        ValueError: for a level not in ``LEVELS``.
    """
    if level not in LEVELS:
        raise ValueError(f"--log-level: {level!r} is not one of {', '.join(LEVELS)}")

    def add_component(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("component", component)
        return event

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        add_component,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])


def get(name: str) -> Any:
    """A structlog logger named ``name``; pass fields as ``service=``, ``pool=``, ``ip=``."""
    return structlog.stdlib.get_logger(name)
