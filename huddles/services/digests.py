"""The weekly digests' contents, read from the store and counted by huddles.rules.digest:

* a team's, for its leads: huddles held against scheduled over the last four weeks, average
  attendance, ideas by status, actions overdue, escalations open with their age;
* the improvement team's: the same per team, the totals, the teams holding no huddles, and the
  escalations that reached the top of the cascade."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from huddles.rules.digest import (
    ImprovementDigest,
    TeamDigest,
    improvement_digest,
    q18_evidence,
    team_digest,
)
from huddles.rules.items import IdeaStatus
from huddles.rules.views import DigestSection, DigestView
from huddles.services.board import short_date, showing_team
from store.huddles import items as item_store
from store.huddles.occurrences import huddle_records
from store.huddles.schedules import schedules
from store.huddles.tree import parent_map, teams_by_id
from store.teams import Team

WEEKS = 4
# A digest is one card (Teams takes about 28 KB): typed text is clipped, long lists are cut.
QUOTE_CHARS = 140
MOST_QUOTED = 10
MOST_TEAMS = 80
IDEA_WORDS = {
    IdeaStatus.NEW: "new",
    IdeaStatus.TESTING: "testing",
    IdeaStatus.ADOPTED: "adopted",
    IdeaStatus.NOT_TAKEN_FORWARD: "not taken forward",
}


def digest_of(session: Session, team_id: int, today: date, zone: ZoneInfo) -> TeamDigest:
    start = today - timedelta(weeks=WEEKS)
    huddles = huddle_records(session, team_id, start, today)
    ideas, actions, escalations = item_store.digest_records(session, team_id)
    return team_digest(huddles, ideas, actions, escalations, today, WEEKS, zone=zone)


def _days(n: int) -> str:
    return "today" if n <= 0 else ("1 day" if n == 1 else f"{n} days")


def team_facts(digest: TeamDigest) -> tuple[tuple[str, str], ...]:
    huddles = f"{digest.held} of {digest.scheduled}"
    if digest.not_held or digest.unrecorded:
        huddles += f" ({digest.not_held} didn't happen, {digest.unrecorded} not recorded)"
    attendance = (
        "no huddle held"
        if digest.average_attendance is None
        else f"{digest.average_attendance:.1f} people on average"
    )
    ideas = ", ".join(f"{IDEA_WORDS[s]} {n}" for s, n in digest.ideas_by_status.items())
    escalations = ", ".join(_days(e.age_days) for e in digest.open_escalations) or "none"
    return (
        ("Huddles held", huddles),
        ("Attendance", attendance),
        ("Ideas", ideas),
        ("Actions overdue", str(digest.actions_overdue)),
        ("Escalations open", f"{len(digest.open_escalations)} ({escalations})"
         if digest.open_escalations else "none"),
    )  # fmt: skip


def _period(digest: TeamDigest) -> str:
    return f"{short_date(digest.period_start)} to {short_date(digest.period_end)}"


def lead_digest(session: Session, team: Team, today: date, zone: ZoneInfo) -> DigestView:
    assert team.id is not None
    digest = digest_of(session, team.id, today, zone)
    open_items = [
        (f"Open {_days(age)}: ", clip(text))
        for age, text in _open_escalation_texts(session, team.id, today, zone)
    ][:MOST_QUOTED]
    return DigestView(
        title=f"{team.name}: your huddles this month",
        period=f"The last four weeks, {_period(digest)}",
        sections=(DigestSection("Figures", team_facts(digest), quoted=tuple(open_items)),),
    )


def _open_escalation_texts(
    session: Session, team_id: int, today: date, zone: ZoneInfo
) -> list[tuple[int, str]]:
    """The team's open escalations, oldest first: (age in days, what was raised)."""
    rows = [r for r in item_store.open_escalations(session) if r.team_id == team_id]
    return [((today - r.created_at.astimezone(zone).date()).days, r.text) for r in rows]


def improvement_view(session: Session, today: date, zone: ZoneInfo) -> DigestView:
    """The improvement team's Monday digest: every team with a huddle schedule."""
    teams = {team.id: team for _schedule, team in schedules(session) if team.installed}
    digests = {
        team.name or team.team_id: digest_of(session, team_id, today, zone)
        for team_id, team in teams.items()
        if team_id is not None
    }
    total: ImprovementDigest = improvement_digest(digests)
    names = sorted(digests)
    teams_line = tuple((name, team_line(digests[name])) for name in names[:MOST_TEAMS])
    if len(names) > MOST_TEAMS:
        teams_line += (("And", f"{len(names) - MOST_TEAMS} more teams"),)
    sections = [
        DigestSection("All teams", _total_facts(total)),
        DigestSection("Each team (held of scheduled, here on average)", teams_line),
    ]
    top = _top_of_cascade(session, today, zone)
    if top:
        sections.append(DigestSection("Escalations at the top of the cascade", quoted=top))
    start = today - timedelta(weeks=WEEKS)
    return DigestView(
        title="Huddles across the teams",
        period=f"The last four weeks, {short_date(start)} to {short_date(today)}",
        sections=tuple(sections),
    )


def team_line(digest: TeamDigest) -> str:
    """A team's figures on one line, for the improvement team's roll-up."""
    here = "-" if digest.average_attendance is None else f"{digest.average_attendance:.1f}"
    testing = digest.ideas_by_status[IdeaStatus.TESTING]
    return (
        f"held {digest.held} of {digest.scheduled}, {here} here, {testing} ideas in test, "
        f"{digest.actions_overdue} actions overdue, {len(digest.open_escalations)} escalations"
    )


def clip(text: str) -> str:
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


def _total_facts(total: ImprovementDigest) -> tuple[tuple[str, str], ...]:
    without = ", ".join(total.teams_without_huddles) or "none"
    ideas = ", ".join(f"{IDEA_WORDS[s]} {n}" for s, n in total.ideas_by_status.items())
    return (
        ("Teams holding huddles", f"{total.teams_holding_huddles} of {total.teams}"),
        ("Teams with no huddle held", without),
        ("Huddles held", f"{total.held} of {total.scheduled}"),
        ("Ideas", ideas),
        ("Actions overdue", str(total.actions_overdue)),
        ("Escalations open", str(total.open_escalations)),
    )


def _top_of_cascade(session: Session, today: date, zone: ZoneInfo) -> tuple[tuple[str, str], ...]:
    """Open escalations waiting on a team with no team above it: (label, the text raised)."""
    parents, teams = parent_map(session), teams_by_id(session)
    found = []
    for row in item_store.open_escalations(session):
        at = showing_team(parents, row.team_id, row.level)
        if parents.get(at) is not None:
            continue
        age = _days((today - row.created_at.astimezone(zone).date()).days)
        where = teams[at].name if at in teams else "?"
        raised = row.team_name if at != row.team_id else f"{row.team_name} (its own)"
        found.append((f"{raised} → {where}, {age}: ", clip(row.text)))
    if len(found) > MOST_QUOTED:
        found = [*found[:MOST_QUOTED], (f"And {len(found) - MOST_QUOTED} more.", "")]
    return tuple(found)


def q18_line(session: Session, team_id: int, today: date) -> str | None:
    """Question 18 evidence for a team ("Held 11 of 12 scheduled huddles in the last
    quarter"), or None when the bot holds no huddle records for it in that period."""
    start = today - timedelta(days=91)
    return q18_evidence(huddle_records(session, team_id, start, today), today)
