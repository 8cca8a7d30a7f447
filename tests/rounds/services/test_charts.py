"""The component chart: a PNG that shows the medians by length and in numbers, the same bytes for
the same results, its words for screen readers, and the endpoint that serves it."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from rounds.rules.results import TeamResult
from rounds.services.charts import (
    CHART_WIDTH,
    chart_alt_text,
    component_chart_png,
)
from tests.bot.cards.test_summary import FRAMEWORK, Person, by_component, flat, make_results

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

MEDIANS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}


def team(levels: dict[int, int] | None = None, n: int = 6, roster: int = 10) -> TeamResult:
    people: list[Person] = [(None, by_component(levels or MEDIANS))] * n
    return make_results({"Ward 7 (Cardiology)": (roster, people)}).team(1)


def png(result: TeamResult) -> Image.Image:
    data = component_chart_png(result, FRAMEWORK, round_name="Autumn 2026")
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return Image.open(io.BytesIO(data)).convert("RGB")


def bar_lengths(image: Image.Image) -> list[int]:
    """Length of each dark-blue bar, read off the pixels (the bars are the only wide runs of
    that colour)."""
    bar = (0, 48, 135)
    lengths = []
    previous_row = -10
    for y in range(image.height):
        run = sum(1 for x in range(image.width) if image.getpixel((x, y)) == bar)
        if run > 20 and y > previous_row + 5:
            lengths.append(run)
        if run > 20:
            previous_row = y
    return lengths


def test_bars_are_proportional_to_the_medians() -> None:
    image = png(team())
    assert image.width == CHART_WIDTH
    lengths = bar_lengths(image)
    assert len(lengths) == 5
    unit = lengths[0]
    for median, length in zip(MEDIANS.values(), lengths, strict=True):
        assert abs(length - median * unit) <= 3 * median, (median, length, unit)


def test_same_results_same_bytes_and_different_results_different_bytes() -> None:
    """Whatever was drawn in between: every chart pastes the labels and axis drawn once, and
    no chart draws its bars on that shared drawing."""
    first = component_chart_png(team(), FRAMEWORK, round_name="Autumn 2026")
    other = component_chart_png(
        team({1: 2, 2: 2, 3: 3, 4: 4, 5: 5}), FRAMEWORK, round_name="Autumn 2026"
    )
    again = component_chart_png(team(), FRAMEWORK, round_name="Autumn 2026")
    assert first == again
    assert first != other


def test_readable_at_phone_width() -> None:
    """Scaled to 300 px wide (Teams on a phone), the image keeps a sensible shape and size."""
    image = png(team())
    scale = 300 / image.width
    assert 250 < image.height * scale < 450
    assert len(component_chart_png(team(), FRAMEWORK)) < 100_000


def test_a_hidden_team_draws_only_the_sentence() -> None:
    hidden = team(n=4, roster=7)
    assert hidden.suppressed
    image = png(hidden)
    assert bar_lengths(image) == []
    assert image.height < 400
    text = chart_alt_text(hidden, FRAMEWORK, round_name="Autumn 2026")
    assert text == (
        "Ward 7 (Cardiology), Autumn 2026: not enough responses to show results "
        "(4 of 7 responded; results appear from 5)."
    )


def test_alt_text_describes_every_figure_in_words() -> None:
    text = chart_alt_text(team({1: 3, 2: 3, 3: 4, 4: 2, 5: 5}), FRAMEWORK, round_name="Autumn 2026")
    assert text.startswith(
        "Bar chart of the median level per component for Ward 7 (Cardiology), Autumn 2026 "
        "(6 responses), on a scale from 1 (Starting) to 5 (Improving and sustaining)."
    )
    assert "Building a shared purpose and vision: 3 (Progressing)." in text
    assert "Building improvement capability and capacity: 2 (Developing)." in text
    assert "Embedding into management systems and processes: 5 (Improving and sustaining)." in text


def test_half_levels_are_printed_and_described() -> None:
    people: list[Person] = [(None, flat(3))] * 3 + [(None, flat(4))] * 3
    result = make_results({"Ward 7": (6, people)}).team(1)
    assert "3.5 (Progressing to Spreading)" in chart_alt_text(result, FRAMEWORK)
