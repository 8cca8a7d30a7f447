"""Card actions as they arrive, validated by one pydantic model before anything else runs.

Teams delivers a card action in two shapes: an `adaptiveCard/action` invoke (Action.Execute:
`value.action.verb`, `value.action.data`) or a message whose `value` is the data merged with the
card's inputs (the Action.Submit fallback). Both become the same `CardAction`. Anything forged or
malformed (unknown verb, ids that are not positive integers, a level outside 1..5, oversized
text, wrong types) becomes an `InvalidAction` with a message fit to show the person.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

MAX_ID = 2**62
Id = Annotated[int, Field(ge=1, le=MAX_ID, strict=False)]
# Teams returns choice values as strings; accept exactly "1".."5" (or the int).
LevelValue = Annotated[int, Field(ge=1, le=5)]

Verb = Literal[
    "start", "help", "answer", "skip", "back", "change", "submit", "restart", "snooze", "optout",
    "round_new", "round_create", "round_close", "round_cancel", "results", "role", "reopen",
    "export", "reminder_times", "round_extend",
]  # fmt: skip
ADMIN_VERBS = {
    "round_new", "round_create", "round_close", "round_cancel", "round_extend", "results", "export",
}  # fmt: skip
Short = Annotated[str, StringConstraints(max_length=200)]
VERBS_WITH_ASSESSMENT = {"answer", "skip", "back", "change", "submit", "restart", "reopen"}
VERBS_WITH_QUESTION = {"answer", "skip", "back"}
VERBS_WITH_ROUND = {"snooze", "optout", "role"}


class InvalidAction(Exception):
    """The submitted data is not a card action we can act on. Nothing has been changed."""


class CardAction(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    verb: Verb
    aid: Id | None = None
    rev: Annotated[int, Field(ge=0, le=MAX_ID)] | None = None
    q: Annotated[int, Field(ge=1, le=1000)] | None = None
    level: LevelValue | None = None
    comment: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    change_q: Annotated[int, Field(ge=1, le=1000)] | None = None
    round: Id | None = None
    round_id: Id | None = None  # the summary card's Full results
    team_id: Id | None = None
    # the new-round form (validated again, with clear messages, when the round is created)
    name: Short | None = None
    teams: Annotated[str, StringConstraints(max_length=4000)] | None = None
    opens: Short | None = None
    closes: Short | None = None
    reminders: Short | None = None
    role_question: Literal["true", "false"] | None = None
    role: Annotated[str, StringConstraints(max_length=40)] | None = None
    fmt: Literal["csv", "xlsx"] | None = None
    remind_days: Short | None = None
    remind_from: Annotated[str, StringConstraints(max_length=8)] | None = None
    remind_to: Annotated[str, StringConstraints(max_length=8)] | None = None
    repeat: Short | None = None


def _first_problem(error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(part) for part in problem["loc"]) or "card"
    return f"{where}: {problem['msg']}"


def parse_card_action(payload: Any, *, comment_max_chars: int) -> CardAction:
    """Validate a card's data (already unwrapped from the invoke or message)."""
    if not isinstance(payload, dict):
        raise InvalidAction("that card sent no data I recognise")
    cleaned = {key: _blank_to_none(value) for key, value in payload.items()}
    try:
        action = CardAction.model_validate(cleaned)
    except ValidationError as exc:
        raise InvalidAction(
            f"that card sent something I can't use ({_first_problem(exc)})"
        ) from exc
    if action.verb in VERBS_WITH_ASSESSMENT and (action.aid is None or action.rev is None):
        raise InvalidAction("that card is missing which assessment it belongs to")
    if action.verb in VERBS_WITH_ROUND and action.round is None:
        raise InvalidAction("that card is missing which round it belongs to")
    if action.verb in VERBS_WITH_QUESTION and action.q is None:
        raise InvalidAction("that card is missing which question it belongs to")
    if action.comment is not None and len(action.comment) > comment_max_chars:
        raise InvalidAction(
            f"your comment is {len(action.comment)} characters; the limit is {comment_max_chars}. "
            "Please shorten it and try again"
        )
    return action


def unwrap_invoke(value: Any) -> Any:
    """`adaptiveCard/action` invoke value → the action's data, with its verb."""
    if not isinstance(value, dict):
        return None
    action = value.get("action")
    if not isinstance(action, dict):
        return None
    data = action.get("data")
    data = dict(data) if isinstance(data, dict) else {}
    if "verb" in action:
        data["verb"] = action["verb"]
    return data


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def clean_comment(comment: str | None) -> str | None:
    """Stored as plain text: control characters (other than newlines and tabs) removed, trimmed."""
    if comment is None:
        return None
    kept = "".join(ch for ch in comment if ch in "\n\t" or ch.isprintable())
    kept = kept.strip()
    return kept or None
