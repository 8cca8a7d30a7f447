"""Structured logs: one JSON object per line when asked (IMPACT_LOG_FORMAT=json, or outside
local mode), with the turn's id, activity type and verb on every record logged during a turn.

What goes in: the time, level, logger, message and the turn fields; exception text when there
is one. What never does: what people typed, names, tokens or secrets. Messages here are written
by us and name ids only; the turn fields are ids and verbs, never text.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class TurnInfo:
    """What a turn's log lines carry; filled in as the turn goes (the outcome at the end)."""

    turn_id: str
    activity_type: str = "-"
    verb: str = "-"
    outcome: str = "ok"
    extra: dict[str, Any] = field(default_factory=dict)


current_turn: ContextVar[TurnInfo | None] = ContextVar("current_turn", default=None)

# Attributes every LogRecord has; anything else was passed with `extra=` and is kept.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class TurnFilter(logging.Filter):
    """Adds the current turn's fields to every record (the text format ignores them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        turn = current_turn.get()
        if turn is not None and not hasattr(record, "turn_id"):
            record.turn_id = turn.turn_id
            record.activity_type = turn.activity_type
            record.verb = turn.verb
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def install(handler: logging.Handler, *, json_lines: bool) -> None:
    """Give the handler the turn fields, and the JSON format if asked for."""
    handler.addFilter(TurnFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter())
