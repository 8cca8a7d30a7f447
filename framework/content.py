"""The self-assessment content as validated, immutable data.

The NHS IMPACT self-assessment (components, practice bullets, questions and their five level
descriptors) and the strategic alignment tool live as YAML files in ``framework/data``. This module
loads them into frozen pydantic models and checks them, so the rest of the bot can rely on:

* components numbered 1..N with unique ids, questions numbered 1..N across components in order,
  with unique ids;
* an answer scale of exactly five levels with values 1..5 and unique keys;
* every question having exactly the scale's levels, in the scale's order;
* no empty or whitespace-only text anywhere.

Any problem is raised as :class:`FrameworkError`, whose one-line message names the file, the place
in it (e.g. ``components[1].questions[2].levels``) and the problem.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StrictInt,
    StringConstraints,
    ValidationError,
    model_validator,
)

__all__ = [
    "DATA_DIR",
    "DEFAULT_ALIGNMENT_PATH",
    "DEFAULT_FRAMEWORK_PATH",
    "AlignmentStage",
    "AlignmentTool",
    "Component",
    "Framework",
    "FrameworkError",
    "Level",
    "LevelDescriptor",
    "Question",
    "default_alignment_tool",
    "default_framework",
    "load_alignment_tool",
    "load_framework",
]

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_FRAMEWORK_PATH = DATA_DIR / "nhs_impact_self_assessment.yaml"
DEFAULT_ALIGNMENT_PATH = DATA_DIR / "strategic_alignment.yaml"

SCALE_SIZE = 5


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


class FrameworkError(Exception):
    """Content that cannot be loaded: ``"<file>: <place>: <problem>"`` on one line."""

    def __init__(self, path: Path | str, place: str, problem: str) -> None:
        self.path = Path(path)
        self.place = place
        self.problem = _one_line(problem)
        super().__init__(f"{self.path}: {self.place}: {self.problem}")


class _ContentProblem(ValueError):
    """Raised inside model validators: carries the place so the loader can report it."""

    def __init__(self, place: str, problem: str) -> None:
        self.place = place
        self.problem = problem
        super().__init__(f"{place}: {problem}")


# --------------------------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------------------------


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or whitespace-only")
    return value


Text = Annotated[str, StringConstraints(strict=True), AfterValidator(_not_blank)]
"""Non-empty, non-whitespace-only text."""

Slug = Annotated[str, StringConstraints(strict=True, pattern=r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")]
"""A short stable identifier: lower-case letters and digits, joined by '-' or '_'."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


_H = TypeVar("_H", bound=Hashable)


def _first_duplicate(values: Iterable[tuple[str, _H]]) -> tuple[str, str, _H] | None:
    """Return (place, first_place, value) for the first value seen twice."""
    seen: dict[_H, str] = {}
    for place, value in values:
        if value in seen:
            return place, seen[value], value
        seen[value] = place
    return None


# --------------------------------------------------------------------------------------------
# The NHS IMPACT self-assessment
# --------------------------------------------------------------------------------------------


class Level(_Model):
    """One point of the answer scale, e.g. ``Level(value=1, key="starting", name="Starting")``."""

    value: StrictInt
    key: Slug
    name: Text


class LevelDescriptor(_Model):
    """What a question looks like at one level of the scale."""

    level: Slug
    text: Text


class Question(_Model):
    id: Slug
    number: StrictInt
    title: Text
    levels: tuple[LevelDescriptor, ...]


class Component(_Model):
    id: Slug
    number: StrictInt
    name: Text
    practice: tuple[Text, ...]
    questions: tuple[Question, ...]


class Framework(_Model):
    id: Slug
    version: Text
    title: Text
    source: Text
    introduction: tuple[Text, ...]
    instruction: Text
    levels: tuple[Level, ...]
    components: tuple[Component, ...]

    @model_validator(mode="after")
    def _check_structure(self) -> Framework:
        for place, problem in _framework_problems(self):
            raise _ContentProblem(place, problem)
        return self

    @property
    def questions(self) -> tuple[Question, ...]:
        """All questions, in order (1..N)."""
        return tuple(q for c in self.components for q in c.questions)

    @property
    def question_count(self) -> int:
        return sum(len(c.questions) for c in self.components)

    def question(self, number: int) -> Question:
        """The question with this number; KeyError if there is none."""
        for component in self.components:
            for question in component.questions:
                if question.number == number:
                    return question
        raise KeyError(f"no question number {number} in {self.id} (1..{self.question_count})")

    def component_of(self, question_number: int) -> Component:
        """The component holding this question; KeyError if there is none."""
        for component in self.components:
            if any(q.number == question_number for q in component.questions):
                return component
        raise KeyError(f"no question number {question_number} in {self.id}")

    def level(self, value: int) -> Level:
        """The scale level with this value (1..5); KeyError if there is none."""
        for level in self.levels:
            if level.value == value:
                return level
        raise KeyError(f"no level with value {value} in {self.id}")

    def descriptor(self, question_number: int, level_value: int) -> str:
        """The descriptor text of a question at a level of the scale."""
        key = self.level(level_value).key
        for descriptor in self.question(question_number).levels:
            if descriptor.level == key:
                return descriptor.text
        # Unreachable for a validated framework: every question has every scale level.
        raise KeyError(f"question {question_number} has no descriptor for level {key!r}")


def _framework_problems(fw: Framework) -> Iterable[tuple[str, str]]:
    # The answer scale.
    if len(fw.levels) != SCALE_SIZE:
        yield "levels", f"expected exactly {SCALE_SIZE} levels, found {len(fw.levels)}"
    for i, level in enumerate(fw.levels):
        if level.value != i + 1:
            yield f"levels[{i}].value", f"expected {i + 1}, found {level.value}"
    dup = _first_duplicate((f"levels[{i}].key", lv.key) for i, lv in enumerate(fw.levels))
    if dup:
        yield dup[0], f"duplicate level key {dup[2]!r} (also at {dup[1]})"
    scale = tuple(level.key for level in fw.levels)

    if not fw.components:
        yield "components", "expected at least one component"

    # Component numbers and ids.
    for i, component in enumerate(fw.components):
        if component.number != i + 1:
            yield f"components[{i}].number", f"expected {i + 1}, found {component.number}"
    dup = _first_duplicate((f"components[{i}].id", c.id) for i, c in enumerate(fw.components))
    if dup:
        yield dup[0], f"duplicate component id {dup[2]!r} (also at {dup[1]})"

    # Questions: ids unique, numbers consecutive across components, levels = the scale.
    places = [
        (f"components[{i}].questions[{j}]", question)
        for i, component in enumerate(fw.components)
        for j, question in enumerate(component.questions)
    ]
    for i, component in enumerate(fw.components):
        if not component.questions:
            yield f"components[{i}].questions", "expected at least one question"
    dup = _first_duplicate((f"{place}.id", q.id) for place, q in places)
    if dup:
        yield dup[0], f"duplicate question id {dup[2]!r} (also at {dup[1]})"
    for expected, (place, question) in enumerate(places, start=1):
        if question.number != expected:
            yield f"{place}.number", f"expected question number {expected}, found {question.number}"
        found = tuple(d.level for d in question.levels)
        if found == scale:
            continue
        if len(found) != len(scale):
            yield (
                f"{place}.levels",
                f"expected exactly {len(scale)} levels {list(scale)}, found {len(found)} "
                f"{list(found)}",
            )
        elif sorted(found) == sorted(scale):
            yield (
                f"{place}.levels",
                f"levels out of order: expected {list(scale)}, found {list(found)}",
            )
        else:
            yield f"{place}.levels", f"expected levels {list(scale)}, found {list(found)}"


# --------------------------------------------------------------------------------------------
# The strategic alignment tool
# --------------------------------------------------------------------------------------------


class AlignmentStage(_Model):
    """One column of the alignment matrix: strategic aims → … → improvement work."""

    id: Slug
    name: Text
    description: Text
    guiding_question: Text
    editorial_note: Text | None = None
    """Set where the source text is visibly damaged: what is probably missing."""
    asked_as: Text | None = None
    """How the bot asks a damaged guiding question (only beside an `editorial_note`)."""

    @model_validator(mode="after")
    def _asked_as_only_where_damaged(self) -> AlignmentStage:
        if self.asked_as is not None and self.editorial_note is None:
            raise _ContentProblem(
                "asked_as",
                "only a damaged guiding question (one with an editorial_note) is reworded",
            )
        return self

    @property
    def question(self) -> str:
        """The guiding question as the bot asks it: verbatim, unless the source is damaged."""
        return self.asked_as or self.guiding_question


class AlignmentTool(_Model):
    id: Slug
    version: Text
    title: Text
    quote: Text
    what_is_it: tuple[Text, ...]
    focus_heading: Text
    focus: tuple[Text, ...]
    figure_caption: Text
    attribution: Text
    stages: tuple[AlignmentStage, ...]
    when_to_use: tuple[Text, ...]
    how_to_use: tuple[Text, ...]

    @model_validator(mode="after")
    def _check_structure(self) -> AlignmentTool:
        if not self.stages:
            raise _ContentProblem("stages", "expected at least one stage")
        dup = _first_duplicate((f"stages[{i}].id", s.id) for i, s in enumerate(self.stages))
        if dup:
            raise _ContentProblem(dup[0], f"duplicate stage id {dup[2]!r} (also at {dup[1]})")
        return self

    def stage(self, stage_id: str) -> AlignmentStage:
        """The stage with this id; KeyError if there is none."""
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(f"no stage {stage_id!r} in {self.id}")


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that rejects a mapping with the same key twice (PyYAML keeps the last)."""


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FrameworkError(path, "(file)", f"cannot read: {exc}") from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        place = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or str(exc)
        raise FrameworkError(path, place, f"YAML syntax error: {problem}") from exc
    except yaml.YAMLError as exc:
        raise FrameworkError(path, "(document)", f"YAML error: {exc}") from exc
    if not isinstance(data, dict):
        found = "nothing" if data is None else type(data).__name__
        raise FrameworkError(
            path, "(document)", f"expected a mapping at the top level, found {found}"
        )
    return data


def _format_loc(loc: tuple[int | str, ...]) -> str:
    place = ""
    for part in loc:
        if isinstance(part, int):
            place += f"[{part}]"
        else:
            place += f".{part}" if place else part
    return place or "(document)"


_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], data: dict[str, Any], path: Path) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        ctx_error = first.get("ctx", {}).get("error")
        if isinstance(ctx_error, _ContentProblem):
            prefix = _format_loc(tuple(first["loc"]))
            place = ctx_error.place if prefix == "(document)" else f"{prefix}.{ctx_error.place}"
            problem = ctx_error.problem
        else:
            place = _format_loc(tuple(first["loc"]))
            problem = re.sub(r"^Value error, ", "", first["msg"])
            if first["type"] not in ("missing",):
                problem += f" (got {first['input']!r:.60})"
        if len(errors) > 1:
            problem += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise FrameworkError(path, place, problem) from exc


def load_framework(path: Path | None = None) -> Framework:
    """Load and validate a self-assessment framework (default: the packaged NHS IMPACT one)."""
    path = DEFAULT_FRAMEWORK_PATH if path is None else Path(path)
    return _validate(Framework, _read_yaml(path), path)


@functools.lru_cache(maxsize=1)
def default_framework() -> Framework:
    """The packaged NHS IMPACT self-assessment, loaded once."""
    return load_framework()


def load_alignment_tool(path: Path | None = None) -> AlignmentTool:
    """Load and validate a strategic alignment tool (default: the packaged one)."""
    path = DEFAULT_ALIGNMENT_PATH if path is None else Path(path)
    return _validate(AlignmentTool, _read_yaml(path), path)


@functools.lru_cache(maxsize=1)
def default_alignment_tool() -> AlignmentTool:
    """The packaged strategic alignment tool, loaded once."""
    return load_alignment_tool()
