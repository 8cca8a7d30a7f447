"""Logging set-up, once per process: the service and every CLI command."""

from __future__ import annotations

import logging
import sys

from bot.observability import logs as structured
from bot.observability.metrics import ErrorCounter


def configure_logging(level: str, *, json_lines: bool = False) -> None:
    """Plain text lines, or JSON (bot/observability/logs.py); each carries the turn's fields."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    root = logging.getLogger()
    for handler in root.handlers:
        structured.install(handler, json_lines=json_lines)
    if not any(isinstance(handler, ErrorCounter) for handler in root.handlers):
        root.addHandler(ErrorCounter())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
