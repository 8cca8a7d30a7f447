"""What may be recorded for strategic alignment (alignment.rules.records): titles as one line of
plain text, ids, project statuses and work named KIND:ID, each refused with a message to show."""

from __future__ import annotations

import re

import pytest

from alignment.rules.matrix import MAX_TITLE_CHARS, AlignmentError
from alignment.rules.records import (
    ProjectStatus,
    WorkRef,
    clean_title,
    parse_id,
    parse_status,
    parse_work_ref,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("Safe care", "Safe care"),
        ("  Safe\n\tcare,\r\n every   time ", "Safe care, every time"),
        ("Safe\x00care\x1b[31m", "Safe care [31m"),
        ("**bold** [x](y)", "**bold** [x](y)"),  # kept as typed: cards show it as plain text
        ("x" * MAX_TITLE_CHARS, "x" * MAX_TITLE_CHARS),
    ],
)
def test_titles_are_one_line_of_plain_text(typed: str, kept: str) -> None:
    assert clean_title(typed, "aim's title") == kept


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (None, "The aim's title is empty."),
        (" \n\t ", "The aim's title is empty."),
        ("\x00\x07", "The aim's title is empty."),
        ("x" * (MAX_TITLE_CHARS + 1), "The aim's title is 201 characters long; keep it to 200"),
    ],
)
def test_titles_that_cannot_be_kept_are_refused(typed: str | None, message: str) -> None:
    with pytest.raises(AlignmentError, match=re.escape(message)):
        clean_title(typed, "aim's title")


def test_ids_are_positive_whole_numbers() -> None:
    assert parse_id(" 12 ", "a goal") == 12
    assert parse_id(7, "a goal") == 7
    assert parse_id("2147483647", "a goal") == 2**31 - 1
    for typed, message in [
        (None, "Choose a goal: the id is not a number."),
        ("abc", "Choose a goal: the id 'abc' is not a number."),
        ("-3", "Choose a goal: the id '-3' is not a number."),
        ("0", "Choose a goal: 0 is not an id."),
        (2**63, f"Choose a goal: {2**63} is not an id."),
        ("2147483648", "Choose a goal: 2147483648 is not an id."),  # past PostgreSQL's int4
    ]:
        with pytest.raises(AlignmentError, match=re.escape(message)):
            parse_id(typed, "a goal")


def test_project_statuses() -> None:
    assert parse_status(" Active ") is ProjectStatus.ACTIVE
    with pytest.raises(
        AlignmentError,
        match=re.escape("A project is planned, active, paused, completed, stopped; not 'done'."),
    ):
        parse_status("done")


def test_work_is_named_kind_colon_id() -> None:
    assert parse_work_ref("project:3") == WorkRef("project", 3)
    assert parse_work_ref(" IDEA:12 ") == WorkRef("idea", 12)
    assert str(WorkRef("idea", 12)) == "idea:12"
    for typed in ("project", "3", "plan:3", "idea:", "idea:x", "idea:-1", None):
        with pytest.raises(AlignmentError, match="Name the work as KIND:ID, for example"):
            parse_work_ref(typed)
    with pytest.raises(AlignmentError, match=re.escape("There is no idea 0.")):
        parse_work_ref("idea:0")
