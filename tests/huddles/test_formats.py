"""Huddle formats (framework.huddle_formats): the shipped file, and each error naming file,
place and problem."""

from __future__ import annotations

import copy
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from framework.huddle_formats import (
    DEFAULT_HUDDLE_FORMATS_PATH,
    MAX_PROMPT_CHARS,
    MAX_TITLE_CHARS,
    CaptureKind,
    FrameworkError,
    HuddleFormats,
    default_huddle_formats,
    load_huddle_formats,
)
from huddles.rules.items import ItemKind

pytestmark = pytest.mark.unit


def shipped() -> dict[str, Any]:
    data = yaml.safe_load(DEFAULT_HUDDLE_FORMATS_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def write(tmp_path: Path, data: dict[str, Any] | str) -> Path:
    path = tmp_path / "formats.yaml"
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---- the shipped file ----------------------------------------------------------------------


def test_shipped_formats_load_and_are_cached() -> None:
    formats = default_huddle_formats()
    assert isinstance(formats, HuddleFormats)
    assert default_huddle_formats() is formats
    assert load_huddle_formats() == formats
    assert {"safety", "improvement"} <= set(formats.ids)


def test_safety_huddle_is_daily_and_covers_the_four_sections() -> None:
    safety = default_huddle_formats().format("safety")
    assert safety.cadence == "daily"
    assert safety.duration_minutes == 10
    assert [s.id for s in safety.sections] == [
        "safety-concerns",
        "staffing",
        "went-well",
        "escalate",
    ]
    assert "escalation" in safety.captures


def test_improvement_huddle_is_weekly_and_captures_every_kind() -> None:
    improvement = default_huddle_formats().format("improvement")
    assert improvement.cadence == "weekly"
    assert improvement.duration_minutes == 15
    assert [s.id for s in improvement.sections] == [
        "measure",
        "tests-of-change",
        "new-ideas",
        "actions-due",
        "escalations",
    ]
    assert set(improvement.captures) == {"idea", "action", "escalation"}


def test_shipped_text_fits_a_phone_card_and_each_prompt_is_a_question() -> None:
    for huddle in default_huddle_formats().formats:
        assert len(huddle.name) <= MAX_TITLE_CHARS
        assert len(huddle.description) <= MAX_PROMPT_CHARS
        for section in huddle.sections:
            assert len(section.title) <= MAX_TITLE_CHARS
            assert len(section.prompt) <= MAX_PROMPT_CHARS
            assert section.prompt.endswith("?"), section.prompt


def test_unknown_format_is_a_key_error_listing_the_known_ones() -> None:
    with pytest.raises(KeyError, match="safety"):
        default_huddle_formats().format("monthly-review")


def test_capture_kinds_match_the_item_kinds() -> None:
    assert set(typing.get_args(CaptureKind)) == {kind.value for kind in ItemKind}


def test_formats_are_immutable() -> None:
    safety = default_huddle_formats().format("safety")
    with pytest.raises(ValueError, match="frozen"):
        safety.duration_minutes = 20  # type: ignore[misc]


# ---- errors name the file, the place and the problem ----------------------------------------

Edit = Callable[[dict[str, Any]], None]


def _set(*path: str | int, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def _drop(*path: str | int) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return edit


@pytest.mark.parametrize(
    ("edit", "place", "problem"),
    [
        pytest.param(
            _set("formats", 1, "id", value="safety"),
            "formats[1].id",
            "duplicate format id 'safety' (also at formats[0].id)",
            id="duplicate-format-id",
        ),
        pytest.param(
            _set("formats", 1, "sections", 3, "id", value="measure"),
            "formats[1].sections[3].id",
            "duplicate section id 'measure'",
            id="duplicate-section-id",
        ),
        pytest.param(
            _set("formats", 0, "sections", value=[]),
            "formats[0].sections",
            "expected at least one section",
            id="no-sections",
        ),
        pytest.param(
            _set("formats", value=[]),
            "formats",
            "expected at least one format",
            id="no-formats",
        ),
        pytest.param(
            _set("formats", 0, "sections", 1, "prompt", value="Is it " + "very " * 30 + "long?"),
            "formats[0].sections[1].prompt",
            f"must be at most {MAX_PROMPT_CHARS} characters, found 161",
            id="prompt-too-long",
        ),
        pytest.param(
            _set("formats", 1, "sections", 0, "title", value="T" * (MAX_TITLE_CHARS + 1)),
            "formats[1].sections[0].title",
            f"must be at most {MAX_TITLE_CHARS} characters, found {MAX_TITLE_CHARS + 1}",
            id="title-too-long",
        ),
        pytest.param(
            _set("formats", 0, "name", value="   "),
            "formats[0].name",
            "must not be empty or whitespace-only",
            id="blank-name",
        ),
        pytest.param(
            _set("formats", 0, "description", value="Two\nlines"),
            "formats[0].description",
            "must be on one line",
            id="two-line-description",
        ),
        pytest.param(
            _drop("formats", 1, "sections", 2, "prompt"),
            "formats[1].sections[2].prompt",
            "Field required",
            id="missing-prompt",
        ),
        pytest.param(
            _set("formats", 0, "cadence", value="monthly"),
            "formats[0].cadence",
            "Input should be 'daily' or 'weekly'",
            id="unknown-cadence",
        ),
        pytest.param(
            _set("formats", 0, "duration_minutes", value=0),
            "formats[0].duration_minutes",
            "greater than or equal to 1",
            id="zero-minutes",
        ),
        pytest.param(
            _set("formats", 1, "captures", value=["idea", "action", "idea"]),
            "formats[1].captures[2]",
            "'idea' is listed twice (also at captures[0])",
            id="capture-twice",
        ),
        pytest.param(
            _set("formats", 1, "captures", 0, value="thought"),
            "formats[1].captures[0]",
            "Input should be 'idea', 'action' or 'escalation'",
            id="unknown-capture",
        ),
        pytest.param(
            _set("formats", 0, "sections", 0, "colour", value="red"),
            "formats[0].sections[0].colour",
            "Extra inputs are not permitted",
            id="unknown-field",
        ),
    ],
)
def test_each_problem_names_file_place_and_problem(
    tmp_path: Path, edit: Edit, place: str, problem: str
) -> None:
    data = copy.deepcopy(shipped())
    edit(data)
    path = write(tmp_path, data)
    with pytest.raises(FrameworkError) as caught:
        load_huddle_formats(path)
    error = caught.value
    assert error.path == path
    assert error.place == place
    assert problem in error.problem
    assert str(error).startswith(f"{path}: {place}: ")
    assert "\n" not in str(error)


def test_duplicate_yaml_key_is_refused_with_its_line(tmp_path: Path) -> None:
    text = DEFAULT_HUDDLE_FORMATS_PATH.read_text(encoding="utf-8")
    path = write(tmp_path, text.replace("cadence: daily", "cadence: daily\n    cadence: weekly"))
    with pytest.raises(FrameworkError, match=r"line \d+, column \d+: .*duplicate key 'cadence'"):
        load_huddle_formats(path)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(FrameworkError) as caught:
        load_huddle_formats(path)
    assert caught.value.path == path
    assert caught.value.place == "(file)"


def test_a_trust_can_add_its_own_format(tmp_path: Path) -> None:
    data = shipped()
    data["formats"].append(
        {
            "id": "board-round",
            "name": "Board round",
            "description": "A quick look at each patient's plan for the day.",
            "cadence": "daily",
            "duration_minutes": 20,
            "sections": [
                {"id": "plans", "title": "Plans", "prompt": "Does every patient have a plan?"}
            ],
            "captures": [],
        }
    )
    formats = load_huddle_formats(write(tmp_path, data))
    assert formats.format("board-round").sections[0].prompt == "Does every patient have a plan?"
