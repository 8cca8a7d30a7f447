"""The digest figures and question 18 evidence (huddles.rules.digest), on hand-made records."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from huddles.rules.digest import (
    ActionRecord,
    EscalationRecord,
    HuddleRecord,
    HuddleStatus,
    IdeaRecord,
    OpenEscalation,
    TeamDigest,
    digest_week,
    improvement_digest,
    q18_evidence,
    team_digest,
)
from huddles.rules.items import EscalationStatus, IdeaStatus

pytestmark = pytest.mark.unit

TODAY = date(2026, 6, 12)  # a Friday
FOUR_WEEKS_AGO = TODAY - timedelta(weeks=4)  # 15 May 2026
HELD, NOT_HELD, PENDING = HuddleStatus.HELD, HuddleStatus.NOT_HELD, HuddleStatus.PENDING
LONDON = ZoneInfo("Europe/London")


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def digest(
    huddles: list[HuddleRecord] | None = None,
    ideas: list[IdeaRecord] | None = None,
    actions: list[ActionRecord] | None = None,
    escalations: list[EscalationRecord] | None = None,
    weeks: int = 4,
) -> TeamDigest:
    return team_digest(huddles or [], ideas or [], actions or [], escalations or [], TODAY, weeks)


# ---- huddles -------------------------------------------------------------------------------


def test_huddle_counts_and_average_attendance() -> None:
    found = digest(
        [
            HuddleRecord(days_ago(1), HELD, 8),
            HuddleRecord(days_ago(2), HELD, 5),
            HuddleRecord(days_ago(3), NOT_HELD),
            HuddleRecord(days_ago(8), HELD, 6),
        ]
    )
    assert (found.scheduled, found.held, found.not_held, found.unrecorded) == (4, 3, 1, 0)
    assert found.average_attendance == pytest.approx(19 / 3)
    assert (found.period_start, found.period_end) == (FOUR_WEEKS_AGO, TODAY)


def test_period_boundaries_exactly_four_weeks_ago_counts_the_day_before_does_not() -> None:
    found = digest(
        [
            HuddleRecord(FOUR_WEEKS_AGO - timedelta(days=1), HELD, 50),  # too old
            HuddleRecord(FOUR_WEEKS_AGO, HELD, 4),  # exactly four weeks ago: in
            HuddleRecord(TODAY, HELD, 6),  # today, already held: in
            HuddleRecord(TODAY + timedelta(days=1), PENDING),  # future: not counted
            HuddleRecord(TODAY + timedelta(days=7), HELD, 99),  # future, even if marked held
        ]
    )
    assert (found.scheduled, found.held) == (2, 2)
    assert found.average_attendance == 5


def test_today_pending_is_left_out_but_a_past_pending_is_unrecorded() -> None:
    found = digest(
        [
            HuddleRecord(TODAY, PENDING),  # may still happen today
            HuddleRecord(days_ago(1), PENDING),  # nobody said whether it happened
            HuddleRecord(days_ago(2), HELD, 7),
        ]
    )
    assert (found.scheduled, found.held, found.not_held, found.unrecorded) == (2, 1, 0, 1)
    assert found.average_attendance == 7


def test_no_held_huddle_means_no_average() -> None:
    assert digest([HuddleRecord(days_ago(1), NOT_HELD)]).average_attendance is None
    assert digest().average_attendance is None
    assert digest().scheduled == 0


def test_weeks_sets_the_period() -> None:
    records = [HuddleRecord(days_ago(n), HELD, 5) for n in (0, 7, 14, 21)]
    assert digest(records, weeks=1).held == 2  # today and exactly a week ago
    assert digest(records, weeks=2).held == 3
    with pytest.raises(ValueError, match="at least 1"):
        digest(records, weeks=0)


def test_attendance_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        HuddleRecord(TODAY, HELD, -1)


# ---- ideas, actions, escalations -----------------------------------------------------------


def test_ideas_by_status_lists_every_status() -> None:
    found = digest(
        ideas=[
            IdeaRecord(IdeaStatus.NEW),
            IdeaRecord(IdeaStatus.NEW),
            IdeaRecord(IdeaStatus.TESTING),
            IdeaRecord(IdeaStatus.ADOPTED),
        ]
    )
    assert dict(found.ideas_by_status) == {
        IdeaStatus.NEW: 2,
        IdeaStatus.TESTING: 1,
        IdeaStatus.ADOPTED: 1,
        IdeaStatus.NOT_TAKEN_FORWARD: 0,
    }
    assert list(digest().ideas_by_status.values()) == [0, 0, 0, 0]


def test_overdue_actions_are_not_done_and_due_before_today() -> None:
    found = digest(
        actions=[
            ActionRecord(days_ago(1), done=False),  # overdue
            ActionRecord(days_ago(30), done=False),  # overdue, however old
            ActionRecord(days_ago(1), done=True),  # done
            ActionRecord(TODAY, done=False),  # due today: not overdue
            ActionRecord(TODAY + timedelta(days=3), done=False),
        ]
    )
    assert found.actions_overdue == 2


def test_open_escalations_oldest_first_with_age_in_days() -> None:
    at = datetime(2026, 6, 12, 9, 0, tzinfo=LONDON)
    found = digest(
        escalations=[
            EscalationRecord(at - timedelta(days=2), EscalationStatus.OPEN, 1),
            EscalationRecord(at - timedelta(days=9), EscalationStatus.OPEN, 3),
            EscalationRecord(at - timedelta(days=20), EscalationStatus.UNBLOCKED, 2),
            EscalationRecord(at - timedelta(days=5), EscalationStatus.NOT_POSSIBLE, 0),
            EscalationRecord(at, EscalationStatus.OPEN, 0),
        ]
    )
    assert [(e.age_days, e.level) for e in found.open_escalations] == [(9, 3), (2, 1), (0, 0)]


def test_escalation_age_counts_midnights_in_the_teams_zone() -> None:
    # 23:30 BST on 10 June is 22:30 UTC: raised on the 10th in London, two days old on the 12th.
    raised = datetime(2026, 6, 10, 22, 30, tzinfo=UTC)
    records = [EscalationRecord(raised, EscalationStatus.OPEN, 0)]
    london = team_digest([], [], [], records, TODAY)
    assert london.open_escalations == (OpenEscalation(raised, 2, 0),)
    tokyo = team_digest([], [], [], records, TODAY, zone="Asia/Tokyo")  # 07:30 on the 11th
    assert tokyo.open_escalations[0].age_days == 1


# ---- the improvement team's roll-up --------------------------------------------------------


def test_improvement_digest_totals_and_teams_without_huddles() -> None:
    ward = digest(
        [HuddleRecord(days_ago(1), HELD, 6), HuddleRecord(days_ago(2), NOT_HELD)],
        ideas=[IdeaRecord(IdeaStatus.NEW), IdeaRecord(IdeaStatus.TESTING)],
        actions=[ActionRecord(days_ago(1), False)],
        escalations=[EscalationRecord(datetime(2026, 6, 1, tzinfo=UTC), EscalationStatus.OPEN, 0)],
    )
    theatres = digest([HuddleRecord(days_ago(1), NOT_HELD)], ideas=[IdeaRecord(IdeaStatus.NEW)])
    pharmacy = digest()
    rolled = improvement_digest({"ward-7": ward, "theatres": theatres, "pharmacy": pharmacy})
    assert rolled.teams == 3
    assert rolled.teams_holding_huddles == 1
    assert rolled.teams_without_huddles == ("pharmacy", "theatres")
    assert (rolled.scheduled, rolled.held) == (3, 1)
    assert rolled.ideas_by_status[IdeaStatus.NEW] == 2
    assert rolled.ideas_by_status[IdeaStatus.TESTING] == 1
    assert rolled.ideas_by_status[IdeaStatus.ADOPTED] == 0
    assert (rolled.actions_overdue, rolled.open_escalations) == (1, 1)


# ---- question 18 ---------------------------------------------------------------------------


def test_q18_evidence_for_the_last_quarter() -> None:
    records = [HuddleRecord(days_ago(7 * n), HELD, 6) for n in range(11)]
    records.append(HuddleRecord(days_ago(77), NOT_HELD))
    records.append(HuddleRecord(days_ago(92), HELD, 6))  # more than 91 days ago
    records.append(HuddleRecord(TODAY + timedelta(days=7), PENDING))  # future
    assert q18_evidence(records, TODAY) == "Held 11 of 12 scheduled huddles in the last quarter"


def test_q18_boundaries_and_wording() -> None:
    assert q18_evidence([HuddleRecord(days_ago(91), HELD, 3)], TODAY) == (
        "Held 1 of 1 scheduled huddle in the last quarter"
    )
    assert q18_evidence([HuddleRecord(days_ago(10), NOT_HELD)], TODAY, days=30) == (
        "Held 0 of 1 scheduled huddle in the last 30 days"
    )
    # An unrecorded past huddle counts as scheduled, not held; today's pending one not at all.
    records = [HuddleRecord(days_ago(1), PENDING), HuddleRecord(TODAY, PENDING)]
    assert q18_evidence(records, TODAY) == "Held 0 of 1 scheduled huddle in the last quarter"


def test_q18_says_nothing_without_records() -> None:
    assert q18_evidence([], TODAY) is None
    assert q18_evidence([HuddleRecord(days_ago(200), HELD, 5)], TODAY) is None
    assert q18_evidence([HuddleRecord(TODAY, PENDING)], TODAY) is None
    assert q18_evidence(iter([HuddleRecord(days_ago(3), HELD, 5)]), TODAY) is not None
    with pytest.raises(ValueError, match="at least 1"):
        q18_evidence([HuddleRecord(days_ago(3), HELD, 5)], TODAY, days=0)


# ---- when the digest goes out --------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "zone", "week"),
    [
        (datetime(2026, 11, 30, 8, 0, tzinfo=UTC), "Europe/London", "2026-W49"),  # Monday 08:00
        (datetime(2026, 11, 30, 7, 59, tzinfo=UTC), "Europe/London", None),
        (datetime(2026, 11, 30, 12, 0, tzinfo=UTC), "Europe/London", "2026-W49"),  # 4 hours late
        (datetime(2026, 11, 30, 12, 1, tzinfo=UTC), "Europe/London", None),
        (datetime(2026, 12, 1, 8, 0, tzinfo=UTC), "Europe/London", None),  # a Tuesday
        (datetime(2027, 6, 7, 7, 0, tzinfo=UTC), "Europe/London", "2027-W23"),  # 08:00 BST
        (datetime(2026, 11, 30, 8, 0, tzinfo=UTC), "America/New_York", None),  # 03:00 there
        (datetime(2026, 11, 30, 13, 0, tzinfo=UTC), "America/New_York", "2026-W49"),
        (datetime(2026, 11, 29, 21, 0, tzinfo=UTC), "Pacific/Auckland", "2026-W49"),  # Mon 10:00
    ],
)
def test_the_digest_is_due_on_monday_morning_in_the_readers_zone(
    moment: datetime, zone: str, week: str | None
) -> None:
    assert digest_week(moment, zone) == week


def test_digest_timing_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        digest_week(datetime(2026, 11, 30, 8, 0), LONDON)
