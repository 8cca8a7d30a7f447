"""SECURITY.md and docs/privacy.md tie each claim to a test: every test they name exists
(`tests/<path>.py::test_name`, or `::test_name` for another test in the file named last), so a
renamed or deleted test cannot leave a claim unproved, and no claim is left without one."""

from __future__ import annotations

import re

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.unit

DOCS = ("SECURITY.md", "docs/privacy.md")
REFERENCE = re.compile(r"(tests/[\w/]+\.py)?::(test_\w+)")
# The pattern the pages themselves use to explain the notation.
NOTATION = ("", "test_name")


def named_tests(text: str) -> list[tuple[str, str]]:
    found, current = [], ""
    for match in REFERENCE.finditer(text):
        current = match.group(1) or current
        if (current, match.group(2)) != NOTATION:
            found.append((current, match.group(2)))
    return found


@pytest.mark.parametrize("doc", DOCS)
def test_every_test_a_claim_names_exists(doc: str) -> None:
    named = named_tests((REPO / doc).read_text(encoding="utf-8"))
    assert len(named) >= 10
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not re.search(
            rf"^(async )?def {name}\(", (REPO / path).read_text(encoding="utf-8"), re.MULTILINE
        )
    ]
    assert not missing, f"{doc} names tests that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_no_claim_waits_for_a_test(doc: str) -> None:
    text = (REPO / doc).read_text(encoding="utf-8")
    assert "TODO" not in text, f"{doc} has a claim with no test yet"


def test_a_missing_test_is_found() -> None:
    text = "see `tests/lint/test_claims.py::test_a_missing_test_is_found`, `::test_nothing`"
    assert named_tests(text) == [
        ("tests/lint/test_claims.py", "test_a_missing_test_is_found"),
        ("tests/lint/test_claims.py", "test_nothing"),
    ]
