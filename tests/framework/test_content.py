"""The packaged framework content against its source documents, and the loader's error paths.

The source documents ("seeds") live in the sibling ``shared/seeds`` directory of the repository.
They are parsed here independently of the YAML, so a transcription slip shows up as a failure.
Without them these comparisons are skipped, saying so; CI sets IMPACT_REQUIRE_SEEDS=1, so that
missing seeds fail instead.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from framework.content import (
    DEFAULT_ALIGNMENT_PATH,
    DEFAULT_FRAMEWORK_PATH,
    AlignmentTool,
    Framework,
    FrameworkError,
    default_alignment_tool,
    default_framework,
    load_alignment_tool,
    load_framework,
)
from tests.paths import SEEDS_DIR

pytestmark = pytest.mark.unit

SELF_ASSESSMENT_SEED = SEEDS_DIR / "003_b2cab8d185ce3015.txt"
ALIGNMENT_SEED = SEEDS_DIR / "000_69fd36eab0cd26eb.txt"

COMPONENT_NAMES = [
    "Building a shared purpose and vision",
    "Investing in people and culture",
    "Developing leadership behaviours",
    "Building improvement capability and capacity",
    "Embedding into management systems and processes",
]
QUESTIONS_PER_COMPONENT = [4, 4, 5, 5, 4]
LEVEL_KEYS = ["starting", "developing", "progressing", "spreading", "improving_and_sustaining"]
LEVEL_LABELS = {  # as the seed writes them
    "starting": "starting",
    "developing": "developing",
    "progressing": "progressing",
    "spreading": "spreading",
    "improving and sustaining": "improving_and_sustaining",
    "improving & sustaining": "improving_and_sustaining",
}


def norm(text: str) -> str:
    """Collapse all whitespace (including non-breaking spaces) to single spaces."""
    return " ".join(text.replace("\u00a0", " ").split())


def seed(path: Path) -> str:
    if not path.is_file():
        message = f"seed document {path.name} not found: expected in {SEEDS_DIR}"
        if os.environ.get("IMPACT_REQUIRE_SEEDS") == "1":
            pytest.fail(f"{message} (IMPACT_REQUIRE_SEEDS=1)")
        pytest.skip(message)
    return path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# An independent parser for the self-assessment seed
# --------------------------------------------------------------------------------------------


@dataclass
class SeedQuestion:
    number: int
    title: str
    levels: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class SeedComponent:
    name: str
    practice: list[str] = field(default_factory=list)
    questions: list[SeedQuestion] = field(default_factory=list)


@dataclass
class SeedAssessment:
    preamble: list[str]
    components: list[SeedComponent]


QUESTION_RE = re.compile(r"^(\d+)\.\s+(.+?):$")
DESCRIPTOR_RE = re.compile(r"^☐\s*([A-Za-z&][A-Za-z& ]*?):\s*(.*)$")
PRACTICE_HEADING = "What this looks like in practice:"


def parse_self_assessment_seed(text: str) -> SeedAssessment:
    lines = [norm(line) for line in text.splitlines()]
    first = lines.index(PRACTICE_HEADING) - 1  # the first component's name
    preamble = [line for line in lines[:first] if line]
    components: list[SeedComponent] = []
    for i, line in enumerate(lines[first:], start=first):
        if not line or (i + 1 < len(lines) and lines[i + 1] == PRACTICE_HEADING):
            continue
        if line == PRACTICE_HEADING:
            components.append(SeedComponent(name=lines[i - 1]))
        elif line.startswith("·"):
            components[-1].practice.append(line.removeprefix("·").strip())
        elif match := QUESTION_RE.match(line):
            components[-1].questions.append(SeedQuestion(int(match[1]), match[2]))
        elif match := DESCRIPTOR_RE.match(line):
            label = LEVEL_LABELS[match[1].lower()]
            components[-1].questions[-1].levels.append((label, match[2]))
        else:
            raise AssertionError(f"seed line {i + 1} not understood: {line!r}")
    return SeedAssessment(preamble, components)


@pytest.fixture(scope="module")
def seed_assessment() -> SeedAssessment:
    return parse_self_assessment_seed(seed(SELF_ASSESSMENT_SEED))


@pytest.fixture(scope="module")
def framework() -> Framework:
    return load_framework()


# --------------------------------------------------------------------------------------------
# Shape of the packaged self-assessment
# --------------------------------------------------------------------------------------------


def test_five_components_of_22_questions_with_five_levels(framework: Framework) -> None:
    assert [c.number for c in framework.components] == [1, 2, 3, 4, 5]
    assert [c.name for c in framework.components] == COMPONENT_NAMES
    assert [len(c.questions) for c in framework.components] == QUESTIONS_PER_COMPONENT
    assert framework.question_count == 22
    assert [q.number for q in framework.questions] == list(range(1, 23))
    assert [q.id for q in framework.questions] == [f"q{n:02d}" for n in range(1, 23)]
    assert [level.key for level in framework.levels] == LEVEL_KEYS
    assert [level.value for level in framework.levels] == [1, 2, 3, 4, 5]
    for question in framework.questions:
        assert [d.level for d in question.levels] == LEVEL_KEYS, question.id


def test_lookups(framework: Framework) -> None:
    assert framework.question(13).title == "'Go and see' visits"
    assert framework.component_of(13).name == "Developing leadership behaviours"
    assert framework.component_of(1).id == framework.components[0].id
    assert framework.component_of(22).number == 5
    assert framework.level(5).name == "Improving and sustaining"
    assert framework.descriptor(1, 1).startswith("We are starting to develop a shared vision")
    assert framework.descriptor(22, 5).endswith("recognised beyond our organisation.")
    with pytest.raises(KeyError):
        framework.question(23)
    with pytest.raises(KeyError):
        framework.component_of(0)
    with pytest.raises(KeyError):
        framework.level(6)
    with pytest.raises(KeyError):
        framework.descriptor(1, 0)


def test_default_helpers_are_cached_and_equal_to_fresh_loads(framework: Framework) -> None:
    assert default_framework() is default_framework()
    assert default_framework() == framework
    assert default_alignment_tool() is default_alignment_tool()
    assert default_alignment_tool() == load_alignment_tool()


def test_models_are_frozen(framework: Framework) -> None:
    with pytest.raises(ValueError, match="frozen"):
        framework.components[0].questions[0].title = "changed"  # type: ignore[misc]


def test_text_is_tidy(framework: Framework) -> None:
    """Whitespace-normalised: no non-breaking spaces, doubled or surrounding spaces."""
    texts = [framework.title, framework.instruction, *framework.introduction]
    for component in framework.components:
        texts += [component.name, *component.practice]
        for question in component.questions:
            texts += [question.title, *(d.text for d in question.levels)]
    untidy = [t for t in texts if t != norm(t)]
    assert untidy == []


# --------------------------------------------------------------------------------------------
# The packaged self-assessment against the seed, text by text
# --------------------------------------------------------------------------------------------


def test_seed_parser_sees_the_whole_seed(seed_assessment: SeedAssessment) -> None:
    assert [c.name for c in seed_assessment.components] == COMPONENT_NAMES
    assert [len(c.questions) for c in seed_assessment.components] == QUESTIONS_PER_COMPONENT
    for component in seed_assessment.components:
        for question in component.questions:
            assert [label for label, _ in question.levels] == LEVEL_KEYS, question.number


def test_introduction_and_instruction_match_seed(
    framework: Framework, seed_assessment: SeedAssessment
) -> None:
    preamble = seed_assessment.preamble
    assert norm(framework.instruction) in preamble
    for paragraph in framework.introduction:
        assert norm(paragraph) in preamble
    # Everything after the title lines is either an introduction paragraph or the instruction.
    body = preamble[preamble.index(norm(framework.introduction[0])) :]
    assert body == [norm(p) for p in (*framework.introduction[:-1], framework.instruction)] + [
        norm(framework.introduction[-1])
    ]


def test_component_names_and_practice_match_seed(
    framework: Framework, seed_assessment: SeedAssessment
) -> None:
    for ours, theirs in zip(framework.components, seed_assessment.components, strict=True):
        assert norm(ours.name) == theirs.name
        assert [norm(b) for b in ours.practice] == theirs.practice, ours.id


def test_question_titles_match_seed(framework: Framework, seed_assessment: SeedAssessment) -> None:
    ours = [(q.number, norm(q.title)) for q in framework.questions]
    theirs = [(q.number, q.title) for c in seed_assessment.components for q in c.questions]
    assert ours == theirs


def test_every_descriptor_matches_seed(
    framework: Framework, seed_assessment: SeedAssessment
) -> None:
    theirs = {
        (q.number, label): text
        for c in seed_assessment.components
        for q in c.questions
        for label, text in q.levels
    }
    ours = {(q.number, d.level): norm(d.text) for q in framework.questions for d in q.levels}
    assert len(ours) == 22 * 5
    mismatched = sorted(
        key for key in theirs.keys() | ours.keys() if ours.get(key) != theirs.get(key)
    )
    assert mismatched == []


def test_questions_sit_in_the_seed_components(
    framework: Framework, seed_assessment: SeedAssessment
) -> None:
    for ours, theirs in zip(framework.components, seed_assessment.components, strict=True):
        assert [q.number for q in ours.questions] == [q.number for q in theirs.questions]


# --------------------------------------------------------------------------------------------
# The strategic alignment tool against its seed
# --------------------------------------------------------------------------------------------


def seed_paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks, hard line breaks joined."""
    return [norm(block) for block in re.split(r"\n\s*\n", text) if block.strip()]


@pytest.fixture(scope="module")
def alignment_seed() -> list[str]:
    return seed_paragraphs(seed(ALIGNMENT_SEED))


@pytest.fixture(scope="module")
def alignment() -> AlignmentTool:
    return load_alignment_tool()


def test_alignment_stages_match_seed(alignment: AlignmentTool, alignment_seed: list[str]) -> None:
    start = alignment_seed.index(norm(alignment.attribution)) + 1
    end = alignment_seed.index("When to use it?")
    blocks = alignment_seed[start:end]
    assert len(blocks) == 3 * 4  # name, description, guiding question per stage
    seed_stages = [tuple(blocks[i : i + 3]) for i in range(0, len(blocks), 3)]
    ours = [(s.name, norm(s.description), s.guiding_question) for s in alignment.stages]
    assert ours == seed_stages
    assert [s.id for s in alignment.stages] == [
        "strategic-aims",
        "measurable-goals",
        "national-targets",
        "improvement-work",
    ]


def test_alignment_damaged_question_is_kept_and_annotated(alignment: AlignmentTool) -> None:
    aims = alignment.stage("strategic-aims")
    assert aims.guiding_question == "What are the strategic aims organisation?"
    assert aims.editorial_note is not None
    assert "of your organisation" in aims.editorial_note
    assert aims.asked_as is not None
    assert aims.asked_as in aims.editorial_note, "asked as the note says it probably reads"
    assert aims.question == aims.asked_as


def test_alignment_undamaged_questions_are_asked_verbatim(alignment: AlignmentTool) -> None:
    for stage in alignment.stages:
        if stage.editorial_note is None:
            assert stage.asked_as is None
            assert stage.question == stage.guiding_question


def test_alignment_prose_matches_seed(alignment: AlignmentTool, alignment_seed: list[str]) -> None:
    def after(heading: str) -> str:
        return alignment_seed[alignment_seed.index(heading) + 1]

    assert [norm(p) for p in alignment.when_to_use] == [after("When to use it?")]
    assert [norm(p) for p in alignment.how_to_use] == [after("How to use it?")]
    # The seed opens "What is it?" with the quote and the first paragraph in one block.
    assert after("What is it?") == f"“{alignment.quote}”. {norm(alignment.what_is_it[0])}"
    # ...then the "Focusing ..." heading, on the line above its first paragraph.
    focus = alignment_seed.index("What is it?") + 2
    assert alignment_seed[focus : focus + 2] == [
        f"{alignment.focus_heading} {norm(alignment.focus[0])}",
        norm(alignment.focus[1]),
    ]
    assert norm(alignment.figure_caption) in alignment_seed
    assert alignment.attribution in alignment_seed


# --------------------------------------------------------------------------------------------
# Error paths: broken copies of the packaged file
# --------------------------------------------------------------------------------------------


def packaged_data() -> dict[str, Any]:
    data = yaml.safe_load(DEFAULT_FRAMEWORK_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def write_broken(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    data = packaged_data()
    change(data)
    path = tmp_path / "broken_framework.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def assert_framework_error(path: Path, place: str, problem: str = "") -> FrameworkError:
    with pytest.raises(FrameworkError) as caught:
        load_framework(path)
    message = str(caught.value)
    assert "\n" not in message
    assert path.name in message
    assert place in message
    assert problem in message
    assert caught.value.place == place
    return caught.value


def test_unchanged_copy_loads(tmp_path: Path) -> None:
    assert load_framework(write_broken(tmp_path, lambda data: None)) == load_framework()


def test_duplicate_question_id(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["components"][1]["questions"][2]["id"] = "q01"

    path = write_broken(tmp_path, change)
    assert_framework_error(path, "components[1].questions[2].id", "duplicate question id 'q01'")


def test_question_with_four_levels(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        del data["components"][1]["questions"][2]["levels"][3]

    path = write_broken(tmp_path, change)
    assert_framework_error(path, "components[1].questions[2].levels", "expected exactly 5 levels")


def test_levels_out_of_order(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        levels = data["components"][2]["questions"][0]["levels"]
        levels[1], levels[2] = levels[2], levels[1]

    path = write_broken(tmp_path, change)
    assert_framework_error(path, "components[2].questions[0].levels", "out of order")


def test_empty_descriptor(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["components"][0]["questions"][1]["levels"][4]["text"] = "   "

    path = write_broken(tmp_path, change)
    assert_framework_error(
        path, "components[0].questions[1].levels[4].text", "must not be empty or whitespace-only"
    )


def test_empty_practice_bullet(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["components"][3]["practice"][2] = ""

    assert_framework_error(write_broken(tmp_path, change), "components[3].practice[2]", "empty")


def test_question_numbering_gap(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        for component in data["components"]:
            for question in component["questions"]:
                if question["number"] >= 10:
                    question["number"] += 1

    path = write_broken(tmp_path, change)
    assert_framework_error(
        path, "components[2].questions[1].number", "expected question number 10, found 11"
    )


def test_component_numbering(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["components"][4]["number"] = 6

    assert_framework_error(write_broken(tmp_path, change), "components[4].number", "expected 5")


def test_duplicate_component_id(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["components"][3]["id"] = data["components"][0]["id"]

    assert_framework_error(write_broken(tmp_path, change), "components[3].id", "duplicate")


def test_scale_with_four_levels(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        del data["levels"][4]

    assert_framework_error(write_broken(tmp_path, change), "levels", "exactly 5 levels")


def test_unknown_field(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["components"][0]["questions"][0]["hint"] = "extra"

    assert_framework_error(
        write_broken(tmp_path, change), "components[0].questions[0].hint", "Extra inputs"
    )


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "syntax_error.yaml"
    text = DEFAULT_FRAMEWORK_PATH.read_text(encoding="utf-8")
    path.write_text(text.replace("levels:\n", "levels: [\n", 1), encoding="utf-8")
    with pytest.raises(FrameworkError) as caught:
        load_framework(path)
    message = str(caught.value)
    assert "\n" not in message
    assert path.name in message
    assert re.search(r"line \d+, column \d+", message)
    assert "YAML syntax error" in message


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = tmp_path / "duplicate_key.yaml"
    text = DEFAULT_FRAMEWORK_PATH.read_text(encoding="utf-8")
    path.write_text(
        text.replace('version: "1"\n', 'version: "1"\nversion: "2"\n'), encoding="utf-8"
    )
    with pytest.raises(
        FrameworkError, match=r"duplicate_key\.yaml: line \d+, column \d+: .*version"
    ):
        load_framework(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FrameworkError, match=r"nowhere\.yaml: \(file\): cannot read"):
        load_framework(tmp_path / "nowhere.yaml")


def test_alignment_tool_errors_name_file_and_place(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_ALIGNMENT_PATH.read_text(encoding="utf-8"))
    data["stages"][2]["guiding_question"] = ""
    path = tmp_path / "broken_alignment.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(FrameworkError) as caught:
        load_alignment_tool(path)
    assert "broken_alignment.yaml" in str(caught.value)
    assert caught.value.place == "stages[2].guiding_question"

    data["stages"][2]["guiding_question"] = "Fine?"
    data["stages"][3]["id"] = data["stages"][0]["id"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(FrameworkError, match=r"broken_alignment\.yaml: stages\[3\]\.id: duplicate"):
        load_alignment_tool(path)


def test_alignment_rewording_is_only_for_a_damaged_question(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_ALIGNMENT_PATH.read_text(encoding="utf-8"))
    data["stages"][1]["asked_as"] = "What do you measure?"
    path = tmp_path / "reworded.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(FrameworkError, match=r"stages\[1\]\.asked_as: only a damaged"):
        load_alignment_tool(path)


def test_missing_seeds_are_skipped_unless_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    absent = tmp_path / "003_absent.txt"
    monkeypatch.delenv("IMPACT_REQUIRE_SEEDS", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"003_absent\.txt not found"):
        seed(absent)
    monkeypatch.setenv("IMPACT_REQUIRE_SEEDS", "1")  # as CI (.ci/run) sets it
    with pytest.raises(pytest.fail.Exception, match="IMPACT_REQUIRE_SEEDS=1"):
        seed(absent)
