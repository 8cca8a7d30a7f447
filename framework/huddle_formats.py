"""Standard huddle formats as validated, immutable data.

A huddle format (``framework/data/huddle_formats.yaml``) is what a huddle prompt card walks a team
through: a name, a one-line description, a cadence hint, a length in minutes, its sections (a
title and one short question each) and the kinds of item the card offers to capture. A trust may
add or edit formats without code; this module loads them into frozen pydantic models and checks:

* format ids unique, section ids unique within their format, capture kinds listed once;
* at least one format, and at least one section per format;
* no empty or whitespace-only text, and no line breaks in it;
* text short enough for a phone card: names and titles up to 60 characters, descriptions and
  prompts up to 140.

Problems are raised as :class:`~framework.content.FrameworkError`, whose one-line message names
the file, the place in it (e.g. ``formats[1].sections[2].prompt``) and the problem; the YAML
reading and error reporting are :mod:`framework.content`'s own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictInt, model_validator

from framework.content import (
    DATA_DIR,
    FrameworkError,
    Slug,
    Text,
    _ContentProblem,
    _first_duplicate,
    _Model,
    _read_yaml,
    _validate,
)

__all__ = [
    "DEFAULT_HUDDLE_FORMATS_PATH",
    "MAX_PROMPT_CHARS",
    "MAX_TITLE_CHARS",
    "Cadence",
    "CaptureKind",
    "FrameworkError",
    "HuddleFormat",
    "HuddleFormats",
    "HuddleSection",
    "default_huddle_formats",
    "load_huddle_formats",
]

DEFAULT_HUDDLE_FORMATS_PATH = DATA_DIR / "huddle_formats.yaml"

MAX_TITLE_CHARS = 60
"""Format names and section titles: one line of a phone card."""
MAX_PROMPT_CHARS = 140
"""Descriptions and section prompts: a short question that fits a phone card."""
MAX_DURATION_MINUTES = 60

Cadence = Literal["daily", "weekly"]
CaptureKind = Literal["idea", "action", "escalation"]
"""The same values as :class:`huddles.rules.items.ItemKind` (a test keeps them in step)."""


def _one_line_of_at_most(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if "\n" in value or "\r" in value:
            raise ValueError("must be on one line")
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters, found {len(value)}")
        return value

    return check


ShortTitle = Annotated[Text, AfterValidator(_one_line_of_at_most(MAX_TITLE_CHARS))]
ShortPrompt = Annotated[Text, AfterValidator(_one_line_of_at_most(MAX_PROMPT_CHARS))]


class HuddleSection(_Model):
    """One part of a huddle: a title, and the one question the card asks about it."""

    id: Slug
    title: ShortTitle
    prompt: ShortPrompt


class HuddleFormat(_Model):
    id: Slug
    name: ShortTitle
    description: ShortPrompt
    cadence: Cadence
    """A hint for whoever sets up the schedule; the schedule itself decides the days."""
    duration_minutes: Annotated[StrictInt, Field(ge=1, le=MAX_DURATION_MINUTES)]
    sections: tuple[HuddleSection, ...]
    captures: tuple[CaptureKind, ...]

    @model_validator(mode="after")
    def _check_structure(self) -> HuddleFormat:
        if not self.sections:
            raise _ContentProblem("sections", "expected at least one section")
        dup = _first_duplicate((f"sections[{i}].id", s.id) for i, s in enumerate(self.sections))
        if dup:
            raise _ContentProblem(dup[0], f"duplicate section id {dup[2]!r} (also at {dup[1]})")
        dup = _first_duplicate((f"captures[{i}]", kind) for i, kind in enumerate(self.captures))
        if dup:
            raise _ContentProblem(dup[0], f"{dup[2]!r} is listed twice (also at {dup[1]})")
        return self


class HuddleFormats(_Model):
    id: Slug
    version: Text
    formats: tuple[HuddleFormat, ...]

    @model_validator(mode="after")
    def _check_structure(self) -> HuddleFormats:
        if not self.formats:
            raise _ContentProblem("formats", "expected at least one format")
        dup = _first_duplicate((f"formats[{i}].id", f.id) for i, f in enumerate(self.formats))
        if dup:
            raise _ContentProblem(dup[0], f"duplicate format id {dup[2]!r} (also at {dup[1]})")
        return self

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.formats)

    def format(self, format_id: str) -> HuddleFormat:
        """The format with this id; KeyError if there is none."""
        for found in self.formats:
            if found.id == format_id:
                return found
        raise KeyError(f"no huddle format {format_id!r} (have: {', '.join(self.ids)})")


def load_huddle_formats(path: Path | None = None) -> HuddleFormats:
    """Load and validate huddle formats (default: the packaged ones)."""
    path = DEFAULT_HUDDLE_FORMATS_PATH if path is None else Path(path)
    return _validate(HuddleFormats, _read_yaml(path), path)


@functools.lru_cache(maxsize=1)
def default_huddle_formats() -> HuddleFormats:
    """The packaged huddle formats, loaded once."""
    return load_huddle_formats()
