"""Fault: an admin types a time the clocks skip or show twice at a DST change (Europe/London,
last Sunday of March and October). Outcome: refused with a message saying why and what to type,
never silently moved an hour either way."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from rounds.rules.when import WhenError, parse_when

pytestmark = pytest.mark.unit

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-03-29T01:00", "2026-03-29T01:30", "2026-03-29T01:59"])
def test_a_time_the_clocks_skip_in_march_is_refused(text: str) -> None:
    with pytest.raises(WhenError, match="does not exist in Europe/London: the clocks go forward"):
        parse_when(text, now=NOW, zone=LONDON)


@pytest.mark.parametrize("text", ["2026-10-25T01:00", "2026-10-25T01:30", "2026-10-25T01:59"])
def test_a_time_the_clocks_show_twice_in_october_is_refused_with_both_offsets(text: str) -> None:
    with pytest.raises(WhenError, match="happens twice in Europe/London") as refused:
        parse_when(text, now=NOW, zone=LONDON)
    assert "+01:00" in str(refused.value)
    assert "+00:00" in str(refused.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-29T00:59", datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),  # GMT, before the change
        ("2026-03-29T02:00", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),  # BST, after it
        ("2026-10-25T00:59", datetime(2026, 10, 24, 23, 59, tzinfo=UTC)),  # still BST
        ("2026-10-25T02:00", datetime(2026, 10, 25, 2, 0, tzinfo=UTC)),  # GMT again
        ("2026-10-25T01:30+01:00", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # the first 01:30
        ("2026-10-25T01:30+00:00", datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),  # the second
        ("2026-03-29", datetime(2026, 3, 29, 8, 0, tzinfo=UTC)),  # 09:00 BST that day
    ],
)
def test_times_either_side_of_a_change_and_with_an_offset_are_read(
    text: str, expected: datetime
) -> None:
    assert parse_when(text, now=NOW, zone=LONDON) == expected
