"""A round's results: the figures (histogram, median, agreement, IQR), the SQL that counts them on
SQLite and PostgreSQL, and that no surface ever shows a group the anonymity rules hide."""

from __future__ import annotations

import csv
import io
import itertools
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from PIL import Image
from sqlmodel import Session

from bot.cards.rounds.summary import summary_card
from framework.content import default_framework
from rounds.rules.anonymity import Reason
from rounds.rules.histogram import LevelHistogram, format_level
from rounds.rules.results import RoundResults
from rounds.rules.summary import summary_view
from rounds.services.charts import chart_alt_text, component_chart_png, team_chart
from rounds.services.export_files import NOT_ENOUGH, export_csv, export_xlsx
from store.assessments.tables import Answer, Assessment
from store.db import Database
from store.people import Person
from store.rounds.results import compute_round_results, load_round_data
from store.rounds.tables import Round, RoundParticipant, RoundParticipantTeam, RoundTeam
from store.teams import Team
from tests.rounds.services.test_charts import bar_lengths

pytestmark = pytest.mark.service

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
FRAMEWORK = default_framework()
QUESTIONS = [q.number for q in FRAMEWORK.questions]

# --------------------------------------------------------------------------------------------
# The histogram's figures against the standard library, for every small histogram
# --------------------------------------------------------------------------------------------


def _histograms_up_to(total: int) -> list[LevelHistogram]:
    found = []
    for counts in itertools.product(range(total + 1), repeat=5):
        if 0 < sum(counts) <= total:
            found.append(LevelHistogram(counts))  # type: ignore[arg-type]
    return found


def test_histogram_figures_match_the_standard_library_for_every_small_histogram() -> None:
    checked = 0
    for histogram in _histograms_up_to(7):
        data = [level for level, n in enumerate(histogram.counts, start=1) for _ in range(n)]
        assert histogram.total == len(data)
        assert histogram.median == statistics.median(data)
        if len(data) >= 2:
            q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
            assert histogram.q1 == pytest.approx(q1)
            assert histogram.q3 == pytest.approx(q3)
            assert histogram.iqr == pytest.approx(q3 - q1)
        else:
            assert histogram.iqr == 0
        top = max(histogram.counts)
        assert histogram.modal_share == top / len(data)
        assert set(histogram.modal_levels) == set(statistics.multimode(data))
        assert histogram.mean == pytest.approx(statistics.mean(data))
        checked += 1
    assert checked == 791  # every histogram of 1..7 answers over five levels: C(12, 5) - 1


def test_empty_histogram_has_no_figures() -> None:
    empty = LevelHistogram()
    assert (empty.median, empty.iqr, empty.modal_share, empty.modal_levels) == (
        None,
        None,
        None,
        (),
    )


@pytest.mark.parametrize("counts", [(1, 2, 3, 4), (1, 2, 3, 4, 5, 6), (-1, 0, 0, 0, 0)])
def test_histogram_refuses_malformed_counts(counts: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="five non-negative"):
        LevelHistogram(counts)  # type: ignore[arg-type]


def test_level_formatting() -> None:
    assert [format_level(v) for v in (1.0, 3.5, 2.25, 5.0)] == ["1", "3.5", "2.25", "5"]


# --------------------------------------------------------------------------------------------
# Building rounds directly as rows
# --------------------------------------------------------------------------------------------

Levels = Callable[[int], int | None]


def flat(level: int | None) -> Levels:
    return lambda _q: level


@dataclass
class TeamMember:
    teams: tuple[str, ...]
    levels: Levels = field(default_factory=lambda: flat(3))
    role: str | None = None
    status: str | None = "submitted"  # None: on the roster, never started
    comments: dict[int, str] = field(default_factory=dict)


@dataclass
class Built:
    round_id: int
    teams: dict[str, int]


class World:
    """Rounds, teams, people, assessments and answers written straight to the tables."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.teams: dict[str, int] = {}
        self.people = 0

    def _team(self, session: Session, key: str) -> int:
        if key not in self.teams:
            row = Team(
                tenant_id="tenant-1",
                team_id=f"19:{key}@thread.tacv2",
                name=key,
                channel_conversation_id=f"19:{key}@thread.tacv2",
                service_url="https://smba.example/",
                reference="{}",
                updated_at=NOW,
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            self.teams[key] = row.id
        return self.teams[key]

    def round(
        self,
        members: Sequence[TeamMember],
        *,
        name: str = "Autumn 2026",
        role_question: bool = False,
        previous: int | None = None,
        extra_teams: Sequence[str] = (),
    ) -> Built:
        def work(session: Session) -> Built:
            round_row = Round(
                name=name,
                framework_id=FRAMEWORK.id,
                framework_version=FRAMEWORK.version,
                status="closed",
                opens_at=NOW - timedelta(days=14),
                closes_at=NOW,
                role_question=role_question,
                previous_round_id=previous,
                created_by="cli:test",
                created_at=NOW,
                updated_at=NOW,
            )
            session.add(round_row)
            session.flush()
            assert round_row.id is not None
            keys = sorted({t for m in members for t in m.teams} | set(extra_teams))
            for key in keys:
                session.add(RoundTeam(round_id=round_row.id, team_id=self._team(session, key)))
            for member in members:
                self.people += 1
                person = Person(
                    tenant_id="tenant-1",
                    teams_user_id=f"29:person-{self.people}",
                    name=f"Person {self.people}",
                    created_at=NOW,
                    updated_at=NOW,
                )
                session.add(person)
                session.flush()
                assert person.id is not None
                assessment_id = None
                if member.status is not None:
                    assessment = Assessment(
                        person_id=person.id,
                        framework_id=FRAMEWORK.id,
                        framework_version=FRAMEWORK.version,
                        status=member.status,
                        round_id=round_row.id,
                        started_at=NOW,
                        updated_at=NOW,
                        submitted_at=NOW if member.status == "submitted" else None,
                    )
                    session.add(assessment)
                    session.flush()
                    assessment_id = assessment.id
                    assert assessment_id is not None
                    for q in FRAMEWORK.questions:
                        session.add(
                            Answer(
                                assessment_id=assessment_id,
                                question_id=q.id,
                                question_number=q.number,
                                level=member.levels(q.number),
                                comment=member.comments.get(q.number),
                                answered_at=NOW,
                            )
                        )
                participant = RoundParticipant(
                    round_id=round_row.id,
                    person_id=person.id,
                    role=member.role,
                    assessment_id=assessment_id,
                )
                session.add(participant)
                session.flush()
                assert participant.id is not None
                for key in member.teams:
                    session.add(
                        RoundParticipantTeam(
                            participant_id=participant.id, team_id=self._team(session, key)
                        )
                    )
            return Built(round_row.id, dict(self.teams))

        return self.db.run_sync(work)

    def results(self, round_id: int, *, min_group: int = 5, min_comment: int = 10) -> RoundResults:
        return self.db.run_sync(
            lambda s: compute_round_results(
                s, round_id, framework=FRAMEWORK, min_group=min_group, min_comment_group=min_comment
            )
        )


def by_component(levels: dict[int, int]) -> Levels:
    """A level per component number."""
    return lambda q: levels[FRAMEWORK.component_of(q).number]


# --------------------------------------------------------------------------------------------
# The SQL, on both databases
# --------------------------------------------------------------------------------------------


def test_counts_medians_and_agreement_come_out_of_the_database(db: Database) -> None:
    world = World(db)
    # Ward A: levels 1,2,3,4,5 on every question, one more at 3, and one who skipped question 1.
    members = [TeamMember(("ward-a",), flat(level)) for level in (1, 2, 3, 4, 5, 3)]
    members.append(TeamMember(("ward-a",), lambda q: None if q == 1 else 4))
    # Not counted: still answering, abandoned, never started.
    members += [
        TeamMember(("ward-a",), flat(1), status="in_progress"),
        TeamMember(("ward-a",), flat(1), status="abandoned"),
        TeamMember(("ward-a",), status=None),
    ]
    built = world.round(members)
    results = world.results(built.round_id)

    team = results.team(built.teams["ward-a"])
    assert (team.roster, team.submitted) == (10, 7)
    assert team.response_rate == pytest.approx(0.7)
    q1 = team.figures.question(1)
    assert q1.histogram() == LevelHistogram((1, 1, 2, 1, 1))
    assert q1.median() == 3
    assert q1.modal_share() == pytest.approx(2 / 6)
    assert q1.iqr() == pytest.approx(1.5)  # quartiles 2.25 and 3.75
    q2 = team.figures.question(2)
    assert q2.histogram() == LevelHistogram((1, 1, 2, 2, 1))
    assert q2.median() == 3
    # Component 1 pools its questions' answers: 1 skipped answer among them.
    component = FRAMEWORK.components[0]
    pooled = team.figures.component(1).histogram()
    assert pooled is not None
    assert pooled.total == 7 * len(component.questions) - 1
    assert team.figures.component(1).median() == 3
    assert results.whole.question(2).histogram() == q2.histogram()
    assert (results.roster, results.submitted) == (10, 7)
    # No previous round, no role question, too few for comments.
    assert team.change_since_previous() is None
    assert team.perception_gap() is None
    assert team.comments() is None
    assert team.comments_reason is Reason.TOO_FEW


def test_someone_in_two_teams_counts_for_each_and_once_for_the_round(db: Database) -> None:
    world = World(db)
    members = [TeamMember(("ward-a",), flat(2)) for _ in range(5)]
    members += [TeamMember(("ward-b",), flat(4)) for _ in range(5)]
    members += [TeamMember(("ward-a", "ward-b"), flat(5)) for _ in range(5)]
    built = world.round(members)
    results = world.results(built.round_id)
    a, b = results.team(built.teams["ward-a"]), results.team(built.teams["ward-b"])
    assert (a.submitted, b.submitted, results.submitted) == (10, 10, 15)
    assert a.figures.question(3).histogram() == LevelHistogram((0, 5, 0, 0, 5))
    assert b.figures.question(3).histogram() == LevelHistogram((0, 0, 0, 5, 5))
    assert results.whole.question(3).histogram() == LevelHistogram((0, 5, 0, 5, 5))
    # Every atom (a only, b only, both) has 5: everything may be shown.
    assert not a.suppressed
    assert not b.suppressed
    assert not results.whole.suppressed


def test_answers_to_a_question_outside_the_framework_count_nowhere(db: Database) -> None:
    """An answer stored under a number the framework does not have (a question since removed,
    a row written by hand): the queries count it in a group of its own, which is dropped."""
    world = World(db)
    members = [TeamMember(("ward-a",), flat(2), role="frontline_clinical") for _ in range(6)]
    built = world.round(members, role_question=True)
    before = world.results(built.round_id)

    def stray_answers(session: Session) -> None:
        for assessment in session.exec(sa.select(Assessment)).scalars():  # type: ignore[call-overload]
            session.add(
                Answer(
                    assessment_id=assessment.id,
                    question_id="retired",
                    question_number=len(QUESTIONS) + 77,
                    level=5,
                    answered_at=NOW,
                )
            )

    db.run_sync(stray_answers)
    data = db.run_sync(lambda s: load_round_data(s, built.round_id, framework=FRAMEWORK))
    assert set(data.round_histograms) == set(QUESTIONS)
    assert {q for _team, q in data.team_histograms} == set(QUESTIONS)
    assert {q for _team, _role, q in data.role_histograms} == set(QUESTIONS)
    after = world.results(built.round_id)
    assert after == before
    team = after.team(built.teams["ward-a"])
    pooled = team.figures.component(1).histogram()
    assert pooled == LevelHistogram((0, 6 * len(FRAMEWORK.components[0].questions), 0, 0, 0))
    assert after.whole.question(1).histogram() == LevelHistogram((0, 6, 0, 0, 0))


def test_strongest_and_weakest_questions(db: Database) -> None:
    world = World(db)
    strong, weak = {3: 5, 17: 5}, {8: 1, 21: 1}

    def levels(q: int) -> int:
        return strong.get(q) or weak.get(q) or (4 if q == 5 else 3)

    built = world.round([TeamMember(("ward-a",), levels) for _ in range(6)])
    team = world.results(built.round_id).team(built.teams["ward-a"])
    assert [q.number for q in team.strongest_questions()] == [3, 17]
    assert [q.number for q in team.weakest_questions()] == [8, 21]


def test_change_since_previous_round_and_perception_gap(db: Database) -> None:
    world = World(db)
    spring = world.round(
        [TeamMember(("ward-a",), by_component({1: 2, 2: 2, 3: 3, 4: 4, 5: 1})) for _ in range(6)]
        + [TeamMember(("ward-b",), flat(3)) for _ in range(3)],
        name="Spring 2026",
    )
    leaders = by_component({1: 4, 2: 3, 3: 3, 4: 4, 5: 2})
    frontline = by_component({1: 2, 2: 3, 3: 4, 4: 4, 5: 2})
    autumn = world.round(
        [TeamMember(("ward-a",), leaders, role="board_executive") for _ in range(2)]
        + [TeamMember(("ward-a",), leaders, role="senior_leader_manager") for _ in range(4)]
        + [TeamMember(("ward-a",), frontline, role="frontline_clinical") for _ in range(3)]
        + [TeamMember(("ward-a",), frontline, role="frontline_non_clinical") for _ in range(3)]
        + [TeamMember(("ward-b",), flat(3), role="frontline_clinical") for _ in range(6)],
        name="Autumn 2026",
        role_question=True,
        previous=spring.round_id,
    )
    results = world.results(autumn.round_id)
    assert results.previous_round_name == "Spring 2026"
    a = results.team(autumn.teams["ward-a"])
    changes = a.change_since_previous()
    assert changes is not None
    # Now: 6 leaders and 6 frontline pooled per component.
    assert [c.current() for c in changes] == [3.0, 3.0, 3.5, 4.0, 2.0]
    assert [c.previous() for c in changes] == [2.0, 2.0, 3.0, 4.0, 1.0]
    assert [c.delta() for c in changes] == [1.0, 1.0, 0.5, 0.0, 1.0]
    gap = a.perception_gap()
    assert gap is not None
    assert [g.gap() for g in gap] == [2.0, 0.0, -1.0, 0.0, 0.0]
    leaders_group = a.role_group("leaders")
    assert leaders_group is not None
    assert leaders_group.respondents == 6
    # Ward B had 3 responses in spring: no change can be shown, though it has 6 now.
    b = results.team(autumn.teams["ward-b"])
    b_changes = b.change_since_previous()
    assert b_changes is not None
    assert all(c.suppressed and c.delta() is None for c in b_changes)
    assert {c.reason for c in b_changes} == {Reason.TOO_FEW}
    # Ward B is all frontline: there is no leaders group to compare with.
    assert b.perception_gap() is None


def test_comments_only_from_big_enough_teams_never_attributed(db: Database) -> None:
    world = World(db)
    members = [
        TeamMember(("ward-a",), flat(3), role="frontline_clinical", comments={4: f"idea {i}"})
        for i in range(10)
    ]
    members += [TeamMember(("ward-b",), flat(3), comments={4: f"hidden {i}"}) for i in range(9)]
    members.append(TeamMember(("ward-a",), flat(3), comments={2: "   "}))  # blank: not a comment
    built = world.round(members, role_question=True)
    results = world.results(built.round_id)
    a = results.team(built.teams["ward-a"])
    comments = a.comments()
    assert comments is not None
    assert sorted(c.text for c in comments) == sorted(f"idea {i}" for i in range(10))
    assert [c.text for c in comments] != [f"idea {i}" for i in range(10)]  # not in answer order
    assert comments == world.results(built.round_id).team(built.teams["ward-a"]).comments()
    for comment in comments:
        assert set(vars(comment)) == {"question_number", "text"}
    b = results.team(built.teams["ward-b"])
    assert b.comments() is None
    assert b.comments_reason is Reason.TOO_FEW


def test_the_sql_does_not_grow_with_the_number_of_answers(db: Database) -> None:
    """Figures are GROUP BY counts: the same statements however many people answered, and every
    statement that reads answers groups them (except the one for comments, which are text)."""
    world = World(db)
    small = world.round([TeamMember(("ward-a",), flat(2)) for _ in range(12)])
    large = world.round(
        [TeamMember(("ward-a",), lambda q: 1 + q % 5) for _ in range(60)], name="Large"
    )
    statements: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        world.results(small.round_id)
        n_small = len(statements)
        statements.clear()
        world.results(large.round_id)
        n_large = len(statements)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert n_small == n_large
    reading_answers = [s for s in statements if "FROM" in s and "answers" in s]
    assert len(reading_answers) == 3  # whole round, per team, comments (no role question)
    for statement in reading_answers:
        assert "GROUP BY" in statement or "answers.comment" in statement, statement


# --------------------------------------------------------------------------------------------
# One team with 4 responses, and a role group made derivable by subtraction: every surface
# --------------------------------------------------------------------------------------------

SECRET_COMMENT = "Only the four of us on nights know this"
LEADER_COMMENT = "The nine leaders said this"


def test_no_surface_leaks_a_small_or_derivable_group(db: Database, tmp_path: Path) -> None:
    world = World(db)
    # Ward A: 4 responses, all at level 1 (a distribution nobody may see).
    members = [
        TeamMember(("ward-a",), flat(1), role="frontline_clinical", comments={1: SECRET_COMMENT})
        for _ in range(4)
    ]
    members += [TeamMember(("ward-a",), status=None) for _ in range(3)]
    # Ward B: 12 responses; 9 leaders at 5 and 3 frontline at 2. The frontline group is too small
    # and the leaders group is 12 − 3: showing it would show the frontline group by subtraction.
    members += [
        TeamMember(("ward-b",), flat(5), role="senior_leader_manager", comments={2: LEADER_COMMENT})
        for _ in range(9)
    ]
    members += [TeamMember(("ward-b",), flat(2), role="frontline_clinical") for _ in range(3)]
    built = world.round(members, role_question=True, name="Winter 2026")
    results = world.results(built.round_id)
    a = results.team(built.teams["ward-a"])
    b = results.team(built.teams["ward-b"])

    # 1. The RoundResults accessors.
    assert a.suppressed
    assert a.reason is Reason.TOO_FEW
    assert (a.submitted, a.roster) == (4, 7)
    hidden_groups = [a.figures, *a.role_groups]
    leaders, frontline = b.role_group("leaders"), b.role_group("frontline")
    assert leaders is not None
    assert frontline is not None
    assert leaders.reason is Reason.SUBTRACTION
    assert frontline.reason is Reason.TOO_FEW
    hidden_groups += [leaders, frontline]
    # The whole round minus ward B would be ward A: the round total is hidden too.
    assert results.whole.reason is Reason.SUBTRACTION
    hidden_groups.append(results.whole)
    for group in hidden_groups:
        assert group.suppressed
        assert group.strongest_questions() == ()
        assert group.weakest_questions() == ()
        for q in group.questions:
            assert q.suppressed
            assert (q.histogram(), q.median(), q.modal_share(), q.iqr(), q.answered()) == (
                None,
                None,
                None,
                None,
                None,
            )
        for c in group.components:
            assert c.suppressed
            assert c.histogram() is None
            assert c.median() is None
    assert a.comments() is None
    assert a.strongest_questions() == ()
    assert a.perception_gap() is None
    assert b.perception_gap() is None
    assert b.comments() is not None  # 12 ≥ 10, and the only other team is hidden
    # Ward B itself may be shown: 12 responses, and nothing smaller can be worked out from it.
    assert not b.suppressed
    assert b.figures.component(1).median() == 5

    # 2. The summary cards.
    card_a = summary_card(
        summary_view(results, a.team_id, FRAMEWORK, chart_url="https://bot.example/c.png")
    )
    text_a = json.dumps(card_a)
    assert "Not enough responses to show results (4 of 7 responded; results appear from 5)" in (
        text_a
    )
    assert "Image" not in text_a
    assert "FactSet" not in text_a
    for level in FRAMEWORK.levels:
        assert level.name not in text_a
    assert SECRET_COMMENT not in text_a
    card_b = summary_card(
        summary_view(results, b.team_id, FRAMEWORK, chart_url="https://bot.example/charts/x.png")
    )
    text_b = json.dumps(card_b)
    assert "Leaders" not in text_b
    assert "Frontline" not in text_b
    assert "gap" not in text_b.lower()
    assert LEADER_COMMENT not in text_b

    # 3. The chart input and output.
    assert all(m is None for _, m in a.figures.component_medians())
    alt_a = chart_alt_text(a, FRAMEWORK, round_name=results.name)
    assert "not enough responses" in alt_a.lower()
    rest = alt_a.replace(results.name, "").replace("4 of 7", "").replace("from 5", "")
    assert not any(ch.isdigit() for ch in rest), alt_a
    png_a, alt = team_chart(results, a.team_id, FRAMEWORK)
    assert alt == alt_a
    assert png_a == component_chart_png(a, FRAMEWORK, round_name=results.name)
    assert bar_lengths(Image.open(io.BytesIO(png_a)).convert("RGB")) == []

    # 4. The CSV and XLSX exports.
    csv_path, xlsx_path = tmp_path / "results.csv", tmp_path / "results.xlsx"
    export_csv(results, csv_path)
    export_xlsx(results, xlsx_path)
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        csv_rows = list(csv.DictReader(handle))
    workbook = load_workbook(xlsx_path)
    xlsx_rows = []
    for title in ("Teams", "Results"):
        rows = list(workbook[title].iter_rows(values_only=True))
        xlsx_rows += [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    everything = json.dumps(
        [csv_rows, xlsx_rows, [list(r) for ws in workbook for r in ws.iter_rows(values_only=True)]],
        default=str,
    )
    for secret in (SECRET_COMMENT, LEADER_COMMENT, "Person "):
        assert secret not in everything
    counts = {"responses", "invited", "response rate", "round", "team", "group", "item"}
    counts |= {"number", "title", "results"}
    hidden = {
        ("All teams (whole round)", "Whole round"),
        ("ward-a", "Whole team"),
        ("ward-a", "Leaders"),
        ("ward-a", "Frontline staff"),
        ("ward-a", "Support and corporate staff"),
        ("ward-b", "Leaders"),
        ("ward-b", "Frontline staff"),
        ("ward-b", "Support and corporate staff"),
        ("All teams (whole round)", None),  # the "Teams" sheet has no group column
        ("ward-a", None),
    }
    checked = 0
    for row in csv_rows + xlsx_rows:
        if (row["team"], row.get("group")) not in hidden:
            continue
        for column, value in row.items():
            if column in counts:
                continue
            assert value in (NOT_ENOUGH, "", None), (row["team"], row.get("group"), column)
            checked += 1
    assert checked > 1000
    # Ward B's own figures are there.
    b_rows = [r for r in csv_rows if (r["team"], r["group"]) == ("ward-b", "Whole team")]
    assert float(b_rows[0]["median"]) == 5
