"""A team's board: its open items as cards show them, and the huddle prompt's view.

The prompt starts where the last huddle ended: the team's ideas (being tested first), its open
actions (overdue and due today flagged in words), and the escalations waiting, both those this
team raised and those raised below it that now wait on this team (huddles.rules.items decides
where an escalation shows from the team tree and its level)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from framework.huddle_formats import HuddleFormats
from framework.identity import TeamMember
from huddles.rules.items import IdeaStatus, ItemKind, where_escalation_shows
from huddles.rules.views import (
    Choice,
    Draft,
    ItemLine,
    Mention,
    PromptView,
    due_flag,
    item_ref,
)
from store.huddles import items as item_store
from store.huddles.items import OPEN_IDEAS, ItemRow
from store.huddles.occurrences import attendance_count, get_huddle
from store.huddles.schedules import timing_of
from store.huddles.tree import chain_in, parent_map, teams_by_id

CARD_ITEMS = 5  # of each kind on a prompt card; the rest are counted ("type ideas")
OWNER_CHOICES = 100  # people offered as an action's owner (the person adding it is always one)
ME = "me"


def short_date(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def _idea_line(row: ItemRow) -> ItemLine:
    state = f"Testing · PDSA cycle {row.cycles}" if row.status == IdeaStatus.TESTING else "New"
    owner = f" · {row.owner_name}" if row.owner_name else ""
    return ItemLine(
        item_ref(row.kind, row.id, row.revision), row.kind, row.text, f"{state}{owner}",
        choice_title=f"Idea: {_clip(row.text)}",
    )  # fmt: skip


def _action_line(row: ItemRow, today: date) -> ItemLine:
    due = row.due or today
    owner = row.owner_name or "no owner"
    return ItemLine(
        item_ref(row.kind, row.id, row.revision), row.kind, row.text,
        f"{owner} · due {short_date(due)}", due_flag(due, today),
        choice_title=f"Action: {_clip(row.text)}",
    )  # fmt: skip


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _age(row: ItemRow, today: date, zone: ZoneInfo) -> str:
    days = (today - row.created_at.astimezone(zone).date()).days
    return "today" if days <= 0 else ("1 day" if days == 1 else f"{days} days")


def showing_team(parents: dict[int, int | None], raised_by: int, level: int) -> int:
    """The team whose board shows an escalation raised by `raised_by` at `level`: up the tree,
    or the raising team's own board when it is at the top."""
    chain = tuple(str(t) for t in chain_in(parents, raised_by))
    shows = where_escalation_shows(chain, level)
    return raised_by if shows is None else int(shows)


def escalations_for(session: Session, team_id: int, today: date, zone: ZoneInfo) -> list[ItemLine]:
    """Open escalations for this team's board: those waiting on it (raised below, or its own
    when it is at the top), then those it raised that wait on a team above."""
    parents, teams = parent_map(session), teams_by_id(session)
    waiting_here, raised_here = [], []
    for row in item_store.open_escalations(session):
        shows_at = showing_team(parents, row.team_id, row.level)
        age = _age(row, today, zone)
        ref = item_ref(row.kind, row.id, row.revision)
        title = f"Escalation: {_clip(row.text)}"
        if shows_at == team_id and row.team_id != team_id:
            detail = f"From {row.team_name} · {age}"
            waiting_here.append(ItemLine(ref, row.kind, row.text, detail, choice_title=title))
        elif row.team_id == team_id:
            where = "us" if shows_at == team_id else teams[shows_at].name
            detail = f"Waiting on {where} · {age}"
            raised_here.append(ItemLine(ref, row.kind, row.text, detail, choice_title=title))
    return waiting_here + raised_here


def open_ideas(session: Session, team_id: int) -> list[ItemLine]:
    rows = item_store.team_items(session, team_id, ItemKind.IDEA, OPEN_IDEAS)
    rows.sort(key=lambda r: (r.status != IdeaStatus.TESTING, r.created_at))
    return [_idea_line(r) for r in rows]


def open_actions(session: Session, team_id: int, today: date) -> list[ItemLine]:
    rows = item_store.team_items(session, team_id, ItemKind.ACTION, (item_store.ACTION_OPEN,))
    rows.sort(key=lambda r: (r.due or today, r.id))
    return [_action_line(r, today) for r in rows]


def _more(ideas: int, actions: int, escalations: int) -> str:
    extra = []
    if ideas > CARD_ITEMS:
        extra.append(f"{ideas - CARD_ITEMS} more ideas (type ideas)")
    if actions > CARD_ITEMS:
        extra.append(f"{actions - CARD_ITEMS} more actions (type actions)")
    if escalations > CARD_ITEMS:
        extra.append(f"{escalations - CARD_ITEMS} more escalations")
    return ("And " + ", ".join(extra) + ".") if extra else ""


def owner_choices(members: Sequence[TeamMember]) -> tuple[Choice, ...]:
    people = sorted((m for m in members if m.name), key=lambda m: m.name.lower())
    return (Choice(ME, "Me"), *(Choice(m.teams_user_id, m.name) for m in people[:OWNER_CHOICES]))


OUTCOMES = {"held": "Held", "not_held": "Didn't happen"}


def prompt_view(
    session: Session,
    huddle_id: int,
    formats: HuddleFormats,
    *,
    members: Sequence[TeamMember] = (),
    leads: Sequence[TeamMember] = (),
    now: datetime,
    notice: str | None = None,
    draft: Draft | None = None,
) -> PromptView | None:
    """The huddle's card as it stands now; None if there is no such huddle."""
    found = get_huddle(session, huddle_id)
    if found is None:
        return None
    huddle, schedule, team = found
    assert team.id is not None
    zone = timing_of(schedule).tz
    today = now.astimezone(zone).date()
    ideas = open_ideas(session, team.id)
    actions = open_actions(session, team.id, today)
    escalations = escalations_for(session, team.id, today, zone)
    starts = huddle.huddle_at.astimezone(zone)
    try:
        huddle_format = formats.format(schedule.format_id)
    except KeyError:  # a format removed from the data since: show the first one
        huddle_format = formats.formats[0]
    return PromptView(
        huddle_id=huddle_id,
        team_name=team.name,
        schedule_name=schedule.name,
        format=huddle_format,
        when=f"{starts:%A} {starts.day} {starts:%B}, {starts:%H:%M}",
        leads=tuple(Mention(m.teams_user_id, m.name) for m in leads[:3]),
        ideas=tuple(ideas[:CARD_ITEMS]),
        actions=tuple(actions[:CARD_ITEMS]),
        escalations=tuple(escalations[:CARD_ITEMS]),
        more=_more(len(ideas), len(actions), len(escalations)),
        attendance=attendance_count(session, huddle_id),
        outcome=OUTCOMES.get(huddle.status, ""),
        outcome_note=huddle.note,
        owners=owner_choices(members),
        today=today.isoformat(),
        notice=notice,
        draft=draft,
    )
