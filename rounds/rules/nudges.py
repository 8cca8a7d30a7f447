"""One person's nudges in a round: their state and when their next nudge is due. Pure: no I/O,
no clock. The rules are set out in rounds.rules.schedule's docstring; windows and plans are there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from rounds.rules.schedule import (
    _ONE_DAY,
    NudgeWindow,
    _require_aware,
    _wall_clock,
    snooze_until,
)

__all__ = ["NudgeState", "is_due", "next_nudge_at", "nudge_ceiling"]


@dataclass(frozen=True)
class NudgeState:
    """One person's nudging state for one round (the caller's record, e.g. RoundParticipant).

    `away_until` is the last day away, inclusive, in the person's zone. `snoozed_until` is a
    requested reminder ("Remind me later"); it is pending while it is later than
    `last_nudged_at`.
    """

    nudges_sent: int = 0
    last_nudged_at: datetime | None = None
    snoozed_until: datetime | None = None
    opted_out: bool = False
    submitted: bool = False
    away_until: date | None = None

    def nudged(self, at: datetime) -> NudgeState:
        """The state after a nudge was sent at `at`."""
        _require_aware(at, "at")
        return replace(self, nudges_sent=self.nudges_sent + 1, last_nudged_at=at)

    def snoozed(self, now: datetime, window: NudgeWindow) -> NudgeState:
        """The state after "Remind me later" at `now`."""
        return replace(self, snoozed_until=snooze_until(now, window))

    @property
    def snooze_pending(self) -> bool:
        if self.snoozed_until is None:
            return False
        return self.last_nudged_at is None or self.snoozed_until > self.last_nudged_at


def nudge_ceiling(plan_count: int) -> int:
    """The most nudges anyone gets in a round: the plan's count plus as many requested reminders."""
    return 2 * plan_count


def next_nudge_at(
    now: datetime,
    *,
    plan_moments: Sequence[datetime],
    state: NudgeState,
    window: NudgeWindow,
    closes_at: datetime,
) -> datetime | None:
    """When this person's next nudge is due: `now` if one is due now, a later time if one will
    be, or None if they get no more nudges in this round.

    The result, when not None, is ≥ `now`, < `closes_at`, inside `window`, on a day they are not
    away, on a later local day than `last_nudged_at` and outside the window occurrence that held
    it. It covers the earliest plan moment after `last_nudged_at` (or the pending snooze), however
    long ago that was: missed moments collapse into this one nudge.
    """
    _require_aware(now, "now")
    _require_aware(closes_at, "closes_at")
    if state.submitted or state.opted_out or now >= closes_at:
        return None
    moments = sorted(plan_moments)
    if state.nudges_sent >= nudge_ceiling(len(moments)):
        return None
    last = state.last_nudged_at
    if state.snooze_pending:
        assert state.snoozed_until is not None
        due_from = state.snoozed_until
    else:
        pending = next((m for m in moments if last is None or m > last), None)
        if pending is None:
            return None
        due_from = pending
    earliest = max(now, due_from)
    if last is not None:
        earliest = max(earliest, _next_local_midnight(last, window.zone))
        held = window.occurrence_at(last)
        if held is not None:
            earliest = max(earliest, held.end)
    if state.away_until is not None:
        back = _wall_clock(state.away_until + _ONE_DAY, time(0), window.zone)
        earliest = max(earliest, back)
    if earliest >= closes_at:
        return None
    for found in window.occurrences(earliest):
        if found.start >= closes_at:
            return None
        if state.away_until is not None and found.day <= state.away_until:
            continue  # a night window that opened on the last day away
        moment = max(found.start, earliest)
        return moment if moment < closes_at else None
    raise AssertionError("unreachable: occurrences() is endless")  # pragma: no cover


def is_due(
    now: datetime,
    *,
    plan_moments: Sequence[datetime],
    state: NudgeState,
    window: NudgeWindow,
    closes_at: datetime,
) -> bool:
    """Whether to send this person a nudge now. Asking again at the same `now` after recording
    the nudge (`state.nudged(now)`) gives False, as does asking any time later that local day."""
    due = next_nudge_at(
        now, plan_moments=plan_moments, state=state, window=window, closes_at=closes_at
    )
    return due is not None and due <= now


def _next_local_midnight(moment: datetime, zone: ZoneInfo) -> datetime:
    return _wall_clock(moment.astimezone(zone).date() + _ONE_DAY, time(0), zone)
