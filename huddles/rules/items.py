"""What comes out of a huddle: ideas, actions and escalations, and their rules. Pure, no clock.

The rules, in one place:

* Text (an item, an escalation's resolution note) is one line: control characters are removed,
  runs of whitespace (line breaks and tabs too) become one space, and the ends are trimmed. What
  is left must be 1 to 500 characters.
* Ideas: ``new`` → ``testing`` (PDSA cycle 1), ``adopted`` or ``not_taken_forward``;
  ``testing`` → ``testing`` (the next cycle), ``adopted`` or ``not_taken_forward``;
  ``adopted`` and ``not_taken_forward`` are final. An idea remembers how many PDSA cycles it ran.
* Actions: overdue once their due date has passed and they are not done (on the due date itself
  they are due, not overdue). The owner gets one nudge, on the due date in their own zone, inside
  their working window; if the window does not open that day (a weekend, a bank holiday), there
  is no nudge: the action shows as overdue at the next huddle instead.
* Escalations: ``open`` until resolved as ``unblocked`` or ``not_possible``, always with a note.
  Teams form a tree by parent links; an open escalation climbs it (see `escalation_level`).

Expected refusals (a person pressing a button that no longer applies) are returned as
:class:`Refusal`; malformed input (text too long) raises :class:`ItemError`. Both carry one-line
messages fit to show a person.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from rounds.rules.schedule import NudgeWindow

__all__ = [
    "MAX_TEXT_CHARS",
    "Action",
    "CascadeError",
    "EscalationStatus",
    "IdeaCommand",
    "IdeaState",
    "IdeaStatus",
    "ItemError",
    "ItemKind",
    "Refusal",
    "Resolution",
    "action_nudge_due",
    "ancestors",
    "check_text",
    "clean_text",
    "escalation_level",
    "is_overdue",
    "resolve_escalation",
    "transition",
    "where_escalation_shows",
    "would_create_cycle",
]

MAX_TEXT_CHARS = 500


class ItemKind(StrEnum):
    IDEA = "idea"
    ACTION = "action"
    ESCALATION = "escalation"


class ItemError(ValueError):
    """Input that cannot be used; the one-line message is fit to show the person."""


@dataclass(frozen=True)
class Refusal:
    """A change that is not allowed from the current state, and why (one line, plain English)."""

    reason: str


# ---- text ----------------------------------------------------------------------------------

_WHITESPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """One tidy line: control characters removed, whitespace runs (including line breaks and
    tabs) made one space, ends trimmed. Format characters such as the zero-width joiner inside
    emoji are kept."""
    spaced = _WHITESPACE.sub(" ", text)
    kept = "".join(ch for ch in spaced if unicodedata.category(ch) != "Cc")
    return _WHITESPACE.sub(" ", kept).strip()


def check_text(text: str, what: str = "text") -> str:
    """`text` cleaned (see `clean_text`), if 1..500 characters remain; else ItemError."""
    cleaned = clean_text(text)
    if not cleaned:
        raise ItemError(f"The {what} is empty; please write something.")
    if len(cleaned) > MAX_TEXT_CHARS:
        raise ItemError(
            f"The {what} is {len(cleaned)} characters long; "
            f"please keep it to {MAX_TEXT_CHARS} or fewer."
        )
    return cleaned


# ---- ideas ---------------------------------------------------------------------------------


class IdeaStatus(StrEnum):
    NEW = "new"
    TESTING = "testing"
    ADOPTED = "adopted"
    NOT_TAKEN_FORWARD = "not_taken_forward"


FINAL_IDEA_STATUSES = frozenset({IdeaStatus.ADOPTED, IdeaStatus.NOT_TAKEN_FORWARD})


class IdeaCommand(StrEnum):
    START_CYCLE = "start_cycle"
    """Test the idea: the first PDSA cycle for a new idea, the next one for an idea in test."""
    ADOPT = "adopt"
    NOT_TAKEN_FORWARD = "not_taken_forward"


@dataclass(frozen=True)
class IdeaState:
    """Where an idea is. `cycles` is how many PDSA cycles it has run: 0 while new, the current
    cycle (≥1) while testing, and kept as it was once the idea is adopted or not taken forward."""

    status: IdeaStatus = IdeaStatus.NEW
    cycles: int = 0

    def __post_init__(self) -> None:
        if self.cycles < 0:
            raise ValueError(f"cycles cannot be negative, got {self.cycles}")
        if self.status is IdeaStatus.NEW and self.cycles != 0:
            raise ValueError("a new idea has not run any PDSA cycle yet")
        if self.status is IdeaStatus.TESTING and self.cycles < 1:
            raise ValueError("an idea in test is in PDSA cycle 1 or later")

    @property
    def cycle(self) -> int | None:
        """The PDSA cycle in progress, or None when the idea is not being tested."""
        return self.cycles if self.status is IdeaStatus.TESTING else None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_IDEA_STATUSES


_FINAL_REASONS = {
    IdeaStatus.ADOPTED: "This idea has already been adopted, so it can't change now.",
    IdeaStatus.NOT_TAKEN_FORWARD: (
        "This idea was not taken forward, so it can't change now; add it again as a new idea "
        "if the team wants to try it."
    ),
}


def transition(state: IdeaState, command: IdeaCommand) -> IdeaState | Refusal:
    """The idea's state after `command`, or a Refusal if it is already adopted or not taken
    forward."""
    if state.is_final:
        return Refusal(_FINAL_REASONS[state.status])
    if command is IdeaCommand.START_CYCLE:
        return IdeaState(IdeaStatus.TESTING, state.cycles + 1)
    if command is IdeaCommand.ADOPT:
        return IdeaState(IdeaStatus.ADOPTED, state.cycles)
    return IdeaState(IdeaStatus.NOT_TAKEN_FORWARD, state.cycles)


# ---- actions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """Something a named person (`owner`, e.g. their Teams id) agreed to do by a date.

    Build one from what a person typed with `Action.new`, which cleans the text; the constructor
    itself takes only text that is already clean, so the stored text is what the card shows.
    """

    text: str
    owner: str
    due: date
    done: bool = False

    def __post_init__(self) -> None:
        if check_text(self.text, "action") != self.text:
            raise ValueError("Action text must be cleaned first: use Action.new or clean_text")
        if not self.owner.strip():
            raise ItemError("Every action needs an owner.")

    @classmethod
    def new(cls, text: str, owner: str, due: date) -> Action:
        """A new, not-done action from what a person typed (ItemError if it can't be used)."""
        return cls(check_text(text, "action"), owner.strip(), due)


def is_overdue(action: Action, today: date) -> bool:
    """Not done and its due date has passed (an action due today is not yet overdue)."""
    return not action.done and action.due < today


def action_nudge_due(
    due: date, done: bool, nudged: bool, now: datetime, window: NudgeWindow
) -> bool:
    """Whether to nudge the owner now: once (not `nudged` yet), only while not done, only on the
    due date in the owner's zone (`window.zone`) and only inside their window."""
    if done or nudged:
        return False
    return window.local_date(now) == due and window.contains(now)


# ---- escalations ---------------------------------------------------------------------------


class EscalationStatus(StrEnum):
    OPEN = "open"
    UNBLOCKED = "unblocked"
    NOT_POSSIBLE = "not_possible"


@dataclass(frozen=True)
class Resolution:
    """How an escalation was closed, and the note saying what was done or why not."""

    status: EscalationStatus
    note: str


def resolve_escalation(
    status: EscalationStatus, outcome: EscalationStatus, note: str
) -> Resolution | Refusal:
    """Close an open escalation as unblocked or not possible, with a note (1..500 characters
    once cleaned)."""
    if status is not EscalationStatus.OPEN:
        return Refusal("This escalation has already been resolved.")
    if outcome is EscalationStatus.OPEN:
        return Refusal("Choose whether the escalation was unblocked or is not possible.")
    try:
        return Resolution(outcome, check_text(note, "note"))
    except ItemError as exc:
        return Refusal(str(exc))


class CascadeError(ValueError):
    """The team links loop (bad data: `would_create_cycle` keeps new links from doing this)."""


def ancestors(parents: Mapping[str, str | None], team: str) -> tuple[str, ...]:
    """The teams above `team`, nearest first (its parent, then that team's parent, …). A team
    missing from `parents`, or with parent None, is at the top. CascadeError if the links loop."""
    chain: list[str] = []
    current = parents.get(team)
    while current is not None:
        if current == team or current in chain:
            raise CascadeError(f"The team links loop: {' → '.join([team, *chain, current])}.")
        chain.append(current)
        current = parents.get(current)
    return tuple(chain)


def would_create_cycle(parents: Mapping[str, str | None], child: str, new_parent: str) -> bool:
    """Whether making `new_parent` the parent of `child` would make the links loop: it is
    `child` itself, or `child` is above it. A link into a chain that already loops is refused
    too (True), so a loop already in the data does not spread."""
    seen: set[str] = set()
    current: str | None = new_parent
    while current is not None:
        if current == child or current in seen:
            return True
        seen.add(current)
        current = parents.get(current)
    return False


def escalation_level(
    raised_at: datetime, now: datetime, escalate_after_days: int, chain_length: int
) -> int:
    """How far up the chain an open escalation shows.

    The chain is the raising team's ancestors, nearest first (`ancestors`), and `chain_length`
    its length. Level 0 is the raising team's parent. Each full `escalate_after_days` days
    (elapsed time, 24-hour periods from `raised_at`) it stays open moves it one team up, never
    past the top of the chain (level ``chain_length - 1``). With no chain (the raising team is
    at the top) the level stays 0 and `where_escalation_shows` gives None.
    """
    if escalate_after_days < 1:
        raise ValueError(f"escalate_after_days must be at least 1, got {escalate_after_days}")
    if chain_length < 0:
        raise ValueError(f"chain_length cannot be negative, got {chain_length}")
    if raised_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("raised_at and now must be timezone-aware")
    open_for = max(now - raised_at, timedelta(0))
    steps = open_for // timedelta(days=escalate_after_days)
    return min(steps, max(chain_length - 1, 0))


def where_escalation_shows(team_chain: tuple[str, ...], level: int) -> str | None:
    """The team whose huddle shows an escalation at `level` (see `escalation_level`): the chain's
    team at that level, the top team beyond it, None for an empty chain (a top team's own
    escalation stays on its own board)."""
    if level < 0:
        raise ValueError(f"level cannot be negative, got {level}")
    if not team_chain:
        return None
    return team_chain[min(level, len(team_chain) - 1)]
