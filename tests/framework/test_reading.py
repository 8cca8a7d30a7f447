"""How long the self-assessment takes (framework.reading), measured from its words."""

from __future__ import annotations

import pytest

from framework.content import default_framework
from framework.reading import reading_minutes, reading_words

pytestmark = pytest.mark.unit


def test_the_time_said_is_the_reading_time_of_the_questions() -> None:
    framework = default_framework()
    words = reading_words(framework)
    assert words == 4247  # 22 titles and 110 descriptors
    assert (words / 250, words / 200) == pytest.approx((17.0, 21.2), abs=0.1)  # minutes
    assert reading_minutes(framework) == (15, 20)


def test_a_changed_content_changes_the_time() -> None:
    framework = default_framework()
    first = framework.components[0]
    shorter = framework.model_copy(update={"components": (first,)}, deep=False)
    assert reading_words(shorter) < reading_words(framework) / 4
    assert reading_minutes(shorter) == (5, 5)
