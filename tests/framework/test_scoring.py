"""A person's profile (framework.scoring): medians per component and overall, shown only where
at least half of the questions were answered."""

from __future__ import annotations

import pytest

from framework.content import default_framework
from framework.scoring import NOT_ENOUGH_ANSWERS, level_label, profile, summarise

pytestmark = pytest.mark.unit

FRAMEWORK = default_framework()


@pytest.mark.parametrize(
    ("levels", "of", "label"),
    [
        ([3, 3, 3, 3], 4, "Progressing"),
        ([2, 4, None, None], 4, "Progressing"),  # exactly half answered: shown
        ([2, 5, None, None], 4, "Progressing to Spreading"),
        ([5, None, None, None], 4, NOT_ENOUGH_ANSWERS),  # one of four: not enough
        ([None, None, None, None], 4, NOT_ENOUGH_ANSWERS),
        ([1, 2, None, None, None], 5, NOT_ENOUGH_ANSWERS),  # two of five is under half
        ([1, 2, 4, None, None], 5, "Developing"),
    ],
)
def test_a_level_is_shown_only_where_at_least_half_were_answered(
    levels: list[int | None], of: int, label: str
) -> None:
    summary = summarise(levels, of)
    assert summary.label(FRAMEWORK) == label
    assert summary.enough is (label != NOT_ENOUGH_ANSWERS)
    assert summary.answered == sum(1 for level in levels if level is not None)


def test_the_median_is_kept_but_not_shown_without_enough_answers() -> None:
    summary = summarise([5, None, None, None], 4)
    assert summary.median == 5.0
    assert summary.shown_median is None


def test_profile_with_most_questions_skipped() -> None:
    # 4 answers: questions 1-2 (component 1 of 4 questions), 5 (component 2), 9 (component 3)
    result = profile(FRAMEWORK, {1: 5, 2: 5, 5: 5, 9: 1, 3: None})
    labels = [c.summary.label(FRAMEWORK) for c in result.components]
    assert labels == [
        "Improving and sustaining",  # 2 of 4
        NOT_ENOUGH_ANSWERS,  # 1 of 4: the "Improving and sustaining" from one answer
        NOT_ENOUGH_ANSWERS,  # 1 of 5
        NOT_ENOUGH_ANSWERS,  # 0 of 5
        NOT_ENOUGH_ANSWERS,  # 0 of 4
    ]
    assert result.overall.label(FRAMEWORK) == NOT_ENOUGH_ANSWERS  # 4 of 22
    assert (result.overall.answered, result.overall.of) == (4, 22)


def test_level_label_spans_two_levels_between_them() -> None:
    assert level_label(FRAMEWORK, 3.0) == "Progressing"
    assert level_label(FRAMEWORK, 4.5) == "Spreading to Improving and sustaining"
