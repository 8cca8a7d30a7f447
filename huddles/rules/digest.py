"""The figures in a team lead's weekly digest, the improvement team's roll-up across teams, and
the huddle evidence for NHS IMPACT question 18 ("Staff attend huddles"). Pure computation from
plain records; the caller reads them from the store and words the card.

Counting rules:

* The period is the `weeks * 7` (or `days`) days up to and including `today`; a huddle scheduled
  exactly that many days ago counts, one scheduled after `today` does not.
* A huddle is *held* or *not held* once someone says so; until then it is *pending*. Today's
  pending huddle is left out (it may still happen). A pending huddle before today counts as
  scheduled and is reported as *unrecorded*: it is not counted as held.
* Average attendance is over held huddles only (None when none was held).
* Ideas are counted by their current status; every status is listed, with 0 when none.
* An action is overdue when it is not done and its due date is before `today`.
* Open escalations are listed oldest first with their age in whole days: the number of
  midnights in the team's zone since they were raised (0 for one raised today).

When: a digest is due on Mondays from 08:00 in the reader's zone until four hours later (a
digest missed while the service was down is still worth sending that morning, not later), once
per ISO week (`digest_week`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

from huddles.rules.items import EscalationStatus, IdeaStatus
from rounds.rules.schedule import DEFAULT_ZONE

__all__ = [
    "ActionRecord",
    "EscalationRecord",
    "HuddleCounts",
    "HuddleRecord",
    "HuddleStatus",
    "IdeaRecord",
    "ImprovementDigest",
    "OpenEscalation",
    "TeamDigest",
    "digest_week",
    "huddle_counts",
    "improvement_digest",
    "q18_evidence",
    "team_digest",
]

QUARTER_DAYS = 91
DIGEST_WEEKDAY = 0  # Monday
DIGEST_AT = time(8, 0)
DIGEST_LATE = timedelta(hours=4)


class HuddleStatus(StrEnum):
    HELD = "held"
    NOT_HELD = "not_held"
    PENDING = "pending"


@dataclass(frozen=True)
class HuddleRecord:
    scheduled_date: date
    status: HuddleStatus
    attendance: int = 0
    """How many people attended; meaningful for held huddles only."""

    def __post_init__(self) -> None:
        if self.attendance < 0:
            raise ValueError(f"attendance cannot be negative, got {self.attendance}")


@dataclass(frozen=True)
class IdeaRecord:
    status: IdeaStatus


@dataclass(frozen=True)
class ActionRecord:
    due: date
    done: bool


@dataclass(frozen=True)
class EscalationRecord:
    raised_at: datetime
    status: EscalationStatus
    level: int


@dataclass(frozen=True)
class OpenEscalation:
    raised_at: datetime
    age_days: int
    level: int


@dataclass(frozen=True)
class HuddleCounts:
    """Huddles in a period: scheduled = held + not held + unrecorded."""

    scheduled: int
    held: int
    not_held: int
    unrecorded: int
    average_attendance: float | None


@dataclass(frozen=True)
class TeamDigest:
    """A team's figures for `period_start`..`period_end` (inclusive).

    Huddles: scheduled = held + not_held + unrecorded (past huddles nobody marked).
    """

    period_start: date
    period_end: date
    scheduled: int
    held: int
    not_held: int
    unrecorded: int
    average_attendance: float | None
    ideas_by_status: Mapping[IdeaStatus, int]
    actions_overdue: int
    open_escalations: tuple[OpenEscalation, ...]


# ---- huddles -------------------------------------------------------------------------------


def _in_period(records: Iterable[HuddleRecord], start: date, today: date) -> list[HuddleRecord]:
    """Records dated start..today inclusive, less today's still-pending huddle."""
    return [
        r
        for r in records
        if start <= r.scheduled_date <= today
        and not (r.scheduled_date == today and r.status is HuddleStatus.PENDING)
    ]


def huddle_counts(records: Iterable[HuddleRecord], start: date, today: date) -> HuddleCounts:
    """The huddle figures for the period start..today (see the module's counting rules)."""
    counted = _in_period(records, start, today)
    by_status = Counter(r.status for r in counted)
    held = [r.attendance for r in counted if r.status is HuddleStatus.HELD]
    return HuddleCounts(
        scheduled=len(counted),
        held=by_status[HuddleStatus.HELD],
        not_held=by_status[HuddleStatus.NOT_HELD],
        unrecorded=by_status[HuddleStatus.PENDING],
        average_attendance=sum(held) / len(held) if held else None,
    )


# ---- the team digest -----------------------------------------------------------------------


def _ideas_by_status(ideas: Iterable[IdeaRecord]) -> Mapping[IdeaStatus, int]:
    found = Counter(i.status for i in ideas)
    return MappingProxyType({status: found[status] for status in IdeaStatus})


def _open_escalations(
    escalations: Iterable[EscalationRecord], today: date, zone: ZoneInfo
) -> tuple[OpenEscalation, ...]:
    still_open = sorted(
        (e for e in escalations if e.status is EscalationStatus.OPEN), key=lambda e: e.raised_at
    )
    return tuple(
        OpenEscalation(e.raised_at, (today - e.raised_at.astimezone(zone).date()).days, e.level)
        for e in still_open
    )


def team_digest(
    huddles: Iterable[HuddleRecord],
    ideas: Iterable[IdeaRecord],
    actions: Iterable[ActionRecord],
    escalations: Iterable[EscalationRecord],
    today: date,
    weeks: int = 4,
    *,
    zone: ZoneInfo | str = DEFAULT_ZONE,
) -> TeamDigest:
    """A team's figures for the `weeks` weeks up to and including `today`, in the team's zone."""
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    start = today - timedelta(weeks=weeks)
    counts = huddle_counts(huddles, start, today)
    return TeamDigest(
        period_start=start,
        period_end=today,
        scheduled=counts.scheduled,
        held=counts.held,
        not_held=counts.not_held,
        unrecorded=counts.unrecorded,
        average_attendance=counts.average_attendance,
        ideas_by_status=_ideas_by_status(ideas),
        actions_overdue=sum(1 for a in actions if not a.done and a.due < today),
        open_escalations=_open_escalations(escalations, today, tz),
    )


# ---- the improvement team's roll-up --------------------------------------------------------


@dataclass(frozen=True)
class ImprovementDigest:
    """Across teams: how many huddle at all, and the totals of their figures."""

    teams: int
    teams_holding_huddles: int
    teams_without_huddles: tuple[str, ...]
    scheduled: int
    held: int
    ideas_by_status: Mapping[IdeaStatus, int]
    actions_overdue: int
    open_escalations: int


def improvement_digest(digests: Mapping[str, TeamDigest]) -> ImprovementDigest:
    """Roll team digests (by team name) up for the improvement team. A team holding huddles
    held at least one in its period; the others are listed by name, in name order."""
    ideas: Counter[IdeaStatus] = Counter()
    for digest in digests.values():
        ideas.update(digest.ideas_by_status)
    return ImprovementDigest(
        teams=len(digests),
        teams_holding_huddles=sum(1 for d in digests.values() if d.held > 0),
        teams_without_huddles=tuple(sorted(name for name, d in digests.items() if d.held == 0)),
        scheduled=sum(d.scheduled for d in digests.values()),
        held=sum(d.held for d in digests.values()),
        ideas_by_status=MappingProxyType({status: ideas[status] for status in IdeaStatus}),
        actions_overdue=sum(d.actions_overdue for d in digests.values()),
        open_escalations=sum(len(d.open_escalations) for d in digests.values()),
    )


# ---- NHS IMPACT question 18 ----------------------------------------------------------------


def q18_evidence(
    huddles: Iterable[HuddleRecord], today: date, days: int = QUARTER_DAYS
) -> str | None:
    """One line of evidence for question 18, e.g. "Held 11 of 12 scheduled huddles in the last
    quarter". None when the bot has nothing to say: no huddle records for the team, or none
    scheduled in the period."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    records = tuple(huddles)
    if not records:
        return None
    counts = huddle_counts(records, today - timedelta(days=days), today)
    if counts.scheduled == 0:
        return None
    noun = "huddle" if counts.scheduled == 1 else "huddles"
    period = "the last quarter" if days == QUARTER_DAYS else f"the last {days} days"
    return f"Held {counts.held} of {counts.scheduled} scheduled {noun} in {period}"


# ---- when digests go out -------------------------------------------------------------------


def digest_week(now: datetime, zone: ZoneInfo | str) -> str | None:
    """The ISO week (e.g. ``2026-W10``) whose digest is due at `now` in `zone`: Monday from
    08:00 local time until four hours later; None at any other time."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    local = now.astimezone(tz)
    if local.weekday() != DIGEST_WEEKDAY:
        return None
    start = datetime.combine(local.date(), DIGEST_AT).replace(tzinfo=tz, fold=0)
    if not start <= local <= start + DIGEST_LATE:
        return None
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"
