"""The strategic alignment matrix (alignment.rules.matrix): rows, counts, unaligned work, the
seed's words for questioning it, and the JSON form."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from alignment.rules.matrix import (
    MAX_TITLE_CHARS,
    Aim,
    AlignmentError,
    Goal,
    Matrix,
    Target,
    UnalignedReason,
    Work,
    build_matrix,
    matrix_as_dict,
)
from framework.content import default_alignment_tool

pytestmark = pytest.mark.unit

SAFE = Aim("safe", "Safe care, every time")
FLOW = Aim("flow", "No one waits longer than they need to")
FALLS = Goal(
    "falls", "safe", "Halve inpatient falls with harm", "Falls with harm per 1,000 bed days"
)
SEPSIS = Goal("sepsis", "safe", "Antibiotics within an hour for sepsis", "% given within 1 hour")
DISCHARGE = Goal("discharge", "flow", "Discharge before noon", "% of discharges before 12:00")
ORPHAN = Goal("orphan", "retired-aim", "A goal whose aim was retired", "Something")
ED_4H = Target("ed-4h", "76% of ED patients seen within 4 hours", ("discharge",))
HARM = Target("harm", "Patient safety incident framework", ("falls", "sepsis", "missing"))

BAY_CHECKS = Work("w1", "Bay checks every hour", "idea", "Ward 7", "falls")
LOW_BEDS = Work("w2", "Low beds for high-risk patients", "project", "Ward 9", "falls")
DISCHARGE_LOUNGE = Work("w3", "Use the discharge lounge by 10:00", "idea", "Ward 7", "discharge")
NEW_ROTA = Work("w4", "New rota app", "project", "Theatres", None)
TYPO = Work("w5", "Linked to a goal that was never made", "idea", "Ward 7", "no-such-goal")
RETIRED = Work("w6", "Work for the retired aim", "idea", "Ward 9", "orphan")

WORK = [BAY_CHECKS, LOW_BEDS, DISCHARGE_LOUNGE, NEW_ROTA, TYPO, RETIRED]


def matrix() -> Matrix:
    return build_matrix([SAFE, FLOW], [FALLS, SEPSIS, DISCHARGE, ORPHAN], [ED_4H, HARM], WORK)


def test_rows_follow_aims_then_goals_with_their_targets_and_work() -> None:
    found = matrix()
    assert [row.aim for row in found.rows] == [SAFE, FLOW]
    safe, flow = found.rows
    assert [g.goal for g in safe.goals] == [FALLS, SEPSIS]
    assert [g.goal for g in flow.goals] == [DISCHARGE]
    falls, sepsis = safe.goals
    assert falls.targets == (HARM,)
    assert falls.work == (BAY_CHECKS, LOW_BEDS)
    assert sepsis.targets == (HARM,)  # one target may bear on several goals
    assert sepsis.work == ()
    assert flow.goals[0].targets == (ED_4H,)
    assert flow.goals[0].work == (DISCHARGE_LOUNGE,)


def test_counts_per_aim_and_goal_and_goals_with_no_work_flagged() -> None:
    safe, flow = matrix().rows
    assert [g.work_count for g in safe.goals] == [2, 0]
    assert [g.has_no_work for g in safe.goals] == [False, True]
    assert (safe.goal_count, safe.work_count, safe.goals_without_work) == (2, 2, 1)
    assert (flow.goal_count, flow.work_count, flow.goals_without_work) == (1, 1, 0)
    assert matrix().work_count == len(WORK)


def test_unaligned_work_with_its_reason() -> None:
    assert [(u.work, u.reason) for u in matrix().unaligned] == [
        (NEW_ROTA, UnalignedReason.NO_GOAL),
        (TYPO, UnalignedReason.UNKNOWN_GOAL),
        (RETIRED, UnalignedReason.AIM_GONE),
    ]


def test_an_aim_with_no_goals_is_still_a_row() -> None:
    lonely = Aim("people", "Great place to work")
    found = build_matrix([lonely], [], [], [NEW_ROTA])
    assert found.rows[0].goals == ()
    assert (found.rows[0].goal_count, found.rows[0].work_count) == (0, 0)
    assert [u.work for u in found.unaligned] == [NEW_ROTA]


def test_the_challenge_is_the_seeds_improvement_work_stage() -> None:
    stage = default_alignment_tool().stage("improvement-work")
    challenge = matrix().challenge
    assert challenge.stage == stage.name == "Improvement work"
    assert challenge.description == stage.description
    assert challenge.description.startswith("Assess current improvement work against the system")
    assert challenge.guiding_question == stage.guiding_question == "How have you done this?"


def test_the_challenge_comes_from_the_tool_given_not_from_code() -> None:
    tool = default_alignment_tool()
    edited = tool.model_copy(
        update={
            "stages": tuple(
                s.model_copy(update={"guiding_question": "Why this work, now?"})
                if s.id == "improvement-work"
                else s
                for s in tool.stages
            )
        }
    )
    found = build_matrix([SAFE], [FALLS], [], [BAY_CHECKS], tool=edited)
    assert found.challenge.guiding_question == "Why this work, now?"


def test_matrix_as_dict_is_json_ready() -> None:
    data = matrix_as_dict(matrix())
    assert json.loads(json.dumps(data)) == data
    falls = data["aims"][0]["goals"][0]
    assert falls == {
        "id": "falls",
        "title": "Halve inpatient falls with harm",
        "measure": "Falls with harm per 1,000 bed days",
        "work_count": 2,
        "has_no_work": False,
        "targets": [{"id": "harm", "title": "Patient safety incident framework"}],
        "work": [
            {
                "id": "w1",
                "title": "Bay checks every hour",
                "kind": "idea",
                "team_name": "Ward 7",
                "goal_id": "falls",
                "status": None,
            },
            {
                "id": "w2",
                "title": "Low beds for high-risk patients",
                "kind": "project",
                "team_name": "Ward 9",
                "goal_id": "falls",
                "status": None,
            },
        ],
    }
    assert data["aims"][0]["goals_without_work"] == 1
    assert [u["reason"] for u in data["unaligned"]] == ["no_goal", "unknown_goal", "aim_gone"]
    assert data["unaligned"][0]["work"]["goal_id"] is None
    assert data["challenge"]["guiding_question"] == "How have you done this?"
    assert data["work_count"] == 6


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Aim("a", ""), "The aim's title is empty."),
        (lambda: Aim("a", "   "), "The aim's title is empty."),
        (lambda: Aim("a", "x" * (MAX_TITLE_CHARS + 1)), "The aim's title is 201 characters long"),
        (lambda: Work("w", "x" * 501, "idea", None, None), "The work's title is 501 characters"),
        (lambda: Goal("g", "a", "Fine", " "), "The goal's measure is empty."),
        (lambda: Goal("g", "", "Fine", "Fine"), "The goal's aim id is empty."),
        (lambda: Target(" ", "Fine", ()), "The target id is empty."),
        (lambda: Work("w", "Fine", "plan", "Ward 7", None), "not 'plan'"),  # type: ignore[arg-type]
        (lambda: Work("w", "Fine", "idea", "", None), "The team name is empty."),
        (lambda: Aim(0, "Fine"), "The aim id is not a positive number."),
        (lambda: Work(True, "Fine", "idea", None, None), "The work id is not a positive number."),
    ],
)
def test_records_are_checked(make: Callable[[], object], message: str) -> None:
    with pytest.raises(AlignmentError, match=re.escape(message)):
        make()


def test_titles_of_exactly_200_characters_are_fine() -> None:
    assert len(Aim("a", "x" * MAX_TITLE_CHARS).title) == MAX_TITLE_CHARS


@pytest.mark.parametrize(
    ("aims", "goals", "work", "message"),
    [
        ([SAFE, Aim("safe", "Again")], [], [], "Two aims have the id 'safe'."),
        ([SAFE], [FALLS, FALLS], [], "Two goals have the id 'falls'."),
        ([SAFE], [FALLS], [BAY_CHECKS, BAY_CHECKS], "Two pieces of work are idea 'w1'."),
    ],
)
def test_duplicate_ids_are_refused(
    aims: list[Aim], goals: list[Goal], work: list[Work], message: str
) -> None:
    with pytest.raises(AlignmentError, match=re.escape(message)):
        build_matrix(aims, goals, [], work)


def test_stored_records_keep_their_numeric_ids_and_may_lack_a_measure_or_a_team() -> None:
    aim = Aim(1, "Safe care")
    goal = Goal(2, 1, "Fewer falls", None)
    project = Work(3, "Low beds", "project", None, 2, "active")
    idea = Work(3, "Bay checks", "idea", "Ward 7", None, "testing")  # same id, other kind
    found = build_matrix([aim], [goal], [Target(4, "Safety framework", (2,))], [project, idea])
    assert found.rows[0].goals[0].work == (project,)
    assert [u.work for u in found.unaligned] == [idea]
    data = matrix_as_dict(found)
    assert data["aims"][0]["id"] == 1
    assert data["aims"][0]["goals"][0]["measure"] is None
    assert data["aims"][0]["goals"][0]["targets"] == [{"id": 4, "title": "Safety framework"}]
    assert data["aims"][0]["goals"][0]["work"][0] == {
        "id": 3, "title": "Low beds", "kind": "project", "team_name": None, "goal_id": 2,
        "status": "active",
    }  # fmt: skip
