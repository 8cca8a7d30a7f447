"""View models of the huddle cards: what each card shows and nothing else (bot/cards/huddles
renders them), and the few pure decisions about how an item reads on a card."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from framework.huddle_formats import HuddleFormat
from huddles.rules.items import ItemKind

__all__ = [
    "CHANGES",
    "Choice",
    "DigestSection",
    "DigestView",
    "Draft",
    "ItemLine",
    "ItemListView",
    "Mention",
    "NoticeView",
    "NudgeView",
    "PromptView",
    "ScheduleFormView",
    "ScheduleLine",
    "SchedulesView",
    "TreeLine",
    "TreeView",
    "due_flag",
    "item_ref",
    "parse_item_ref",
]


@dataclass(frozen=True)
class Mention:
    """Someone the card @mentions (the team's lead on a prompt)."""

    teams_user_id: str
    name: str


@dataclass(frozen=True)
class Choice:
    value: str
    title: str


# What may be done to an item from a card (the value is sent back; the server checks it fits).
CHANGES: tuple[Choice, ...] = (
    Choice("done", "Action done"),
    Choice("start_cycle", "Idea: test it (next PDSA cycle)"),
    Choice("adopt", "Idea adopted"),
    Choice("not_taken_forward", "Idea not taken forward"),
    Choice("unblocked", "Escalation unblocked"),
    Choice("not_possible", "Escalation not possible"),
)


def item_ref(kind: str, item_id: int, revision: int) -> str:
    """How a card names an item in a choice: kind, id and the revision it was drawn at."""
    return f"{kind}:{item_id}:{revision}"


def parse_item_ref(ref: str) -> tuple[ItemKind, int, int] | None:
    """`idea:12:3` → (kind, id, revision); None for anything else."""
    parts = ref.split(":")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    try:
        kind = ItemKind(parts[0])
    except ValueError:
        return None
    return kind, int(parts[1]), int(parts[2])


def due_flag(due: date, today: date) -> str:
    """The word that says how an action stands (meaning never by colour alone)."""
    if due < today:
        return "Overdue"
    if due == today:
        return "Due today"
    return ""


@dataclass(frozen=True)
class ItemLine:
    """One item on a card: its words (what a person typed: shown as plain text), a detail line
    (owner, due, cycle, where it waits) and an optional flag word (Overdue, Due today)."""

    ref: str  # item_ref(...)
    kind: str
    text: str
    detail: str
    flag: str = ""
    choice_title: str = ""  # how the item reads in the "which item" choice


@dataclass(frozen=True)
class Draft:
    """What a person typed into a form that could not be saved, to give back to them."""

    kind: str
    text: str = ""
    owner: str = ""
    due: str = ""
    note: str = ""


@dataclass(frozen=True)
class PromptView:
    huddle_id: int
    team_name: str
    schedule_name: str
    format: HuddleFormat
    when: str  # "Tuesday 3 March, 09:00"
    leads: tuple[Mention, ...] = ()
    ideas: tuple[ItemLine, ...] = ()
    actions: tuple[ItemLine, ...] = ()
    escalations: tuple[ItemLine, ...] = ()
    more: str = ""  # e.g. "and 3 more actions: type actions"
    attendance: int = 0
    outcome: str = ""  # "Held", "Didn't happen", "" while pending
    outcome_note: str | None = None  # what the lead typed
    owners: tuple[Choice, ...] = ()
    today: str = ""  # ISO date, the due date's default
    notice: str | None = None
    draft: Draft | None = None

    @property
    def open_items(self) -> tuple[ItemLine, ...]:
        return self.ideas + self.actions + self.escalations


@dataclass(frozen=True)
class ItemListView:
    """`ideas` or `actions`: a team's open items, with a way to change one."""

    team_name: str
    title: str  # "Open ideas", "Open actions"
    items: tuple[ItemLine, ...]
    list_kind: str  # ideas | actions
    empty: str
    notice: str | None = None


@dataclass(frozen=True)
class ScheduleLine:
    id: int
    name: str
    team_name: str
    format_name: str
    when: str  # "Mondays to Fridays at 08:30 (Europe/London)"
    channel: str
    state: str  # "Next prompt Tuesday 3 March at 08:25", "Paused"


@dataclass(frozen=True)
class SchedulesView:
    title: str
    lines: tuple[ScheduleLine, ...]
    can_add: bool
    notice: str | None = None
    team_id: str | None = None  # in a team's channel: that team


@dataclass(frozen=True)
class ScheduleFormView:
    teams: tuple[Choice, ...]  # one team when opened in its channel
    channels: tuple[Choice, ...]  # the chosen team's channels (General's id is the team's)
    formats: tuple[Choice, ...]
    zone: str
    days: str = "mon,tue,wed,thu,fri"
    at: str = "09:00"
    lead_minutes: int = 5
    notice: str | None = None
    name: str = ""
    format_id: str = ""
    skip_bank_holidays: bool = True


@dataclass(frozen=True)
class NoticeView:
    """A message to a team's channel or a person: a heading, lines of ours, and the words
    someone typed (plain text)."""

    heading: str
    lines: tuple[str, ...] = ()
    quoted: tuple[tuple[str, str], ...] = ()  # (label, typed text)


@dataclass(frozen=True)
class NudgeView:
    """An action's owner, nudged on its due date."""

    ref: str
    text: str
    team_name: str
    due: str


@dataclass(frozen=True)
class DigestSection:
    title: str
    facts: tuple[tuple[str, str], ...] = ()
    quoted: tuple[tuple[str, str], ...] = ()  # (label, what someone typed)


@dataclass(frozen=True)
class DigestView:
    title: str
    period: str
    sections: tuple[DigestSection, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class TreeLine:
    team_name: str
    depth: int


@dataclass(frozen=True)
class TreeView:
    lines: tuple[TreeLine, ...]
    teams: tuple[Choice, ...]
    notice: str | None = None
