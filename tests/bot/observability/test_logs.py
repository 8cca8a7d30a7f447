"""Structured logs: one JSON object per line, the turn's fields on every record logged during a
turn, extra fields kept, exceptions included; and what a turn is called (type and verb, never
its text)."""

from __future__ import annotations

import json
import logging

import pytest

from bot.logs import configure_logging
from bot.observability.logs import JsonFormatter, TurnFilter, TurnInfo, current_turn
from bot.observability.turns import describe

pytestmark = pytest.mark.unit

VERBS = frozenset({"answer", "start"})


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord({"name": "impact_bot.test", "levelno": logging.INFO,
                                  "levelname": "INFO", "msg": message, **extra})  # fmt: skip
    TurnFilter().filter(made)
    return made


def test_a_record_is_one_line_of_json_with_the_turn_fields() -> None:
    token = current_turn.set(TurnInfo("abc123", "invoke", "answer"))
    try:
        line = JsonFormatter().format(record("saved answer %d", args=(3,), duration_ms=4.5))
    finally:
        current_turn.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "saved answer 3"
    assert (entry["turn_id"], entry["activity_type"], entry["verb"]) == (
        "abc123",
        "invoke",
        "answer",
    )
    assert entry["duration_ms"] == 4.5
    assert entry["level"] == "INFO"
    assert entry["time"].endswith("+00:00")


def test_outside_a_turn_there_are_no_turn_fields() -> None:
    entry = json.loads(JsonFormatter().format(record("started")))
    assert "turn_id" not in entry


def test_exceptions_are_included() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        made = record("failed", exc_info=sys.exc_info())
    entry = json.loads(JsonFormatter().format(made))
    assert "ValueError: boom" in entry["exception"]


def test_configure_logging_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()
    try:
        configure_logging("INFO", json_lines=True)
        logging.getLogger("impact_bot.test").info("hello %s", "there")
        err = capsys.readouterr().err.strip().splitlines()
    finally:
        root.handlers[:] = saved
    assert json.loads(err[-1])["message"] == "hello there"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"type": "message", "text": "my private words"}, ("message", "text")),
        ({"type": "message", "value": {"verb": "answer", "aid": 1}}, ("message", "answer")),
        ({"type": "invoke", "value": {"action": {"verb": "start"}}}, ("invoke", "start")),
        ({"type": "invoke", "value": {"action": {"verb": "drop table"}}}, ("invoke", "unknown")),
        ({"type": "conversationUpdate"}, ("conversationUpdate", "-")),
        ({"type": "made-up"}, ("unknown", "-")),
        ([1, 2], ("unknown", "-")),
    ],
)
def test_a_turn_is_described_by_its_type_and_verb_never_its_text(
    body: object, expected: tuple[str, str]
) -> None:
    assert describe(body, VERBS) == expected
