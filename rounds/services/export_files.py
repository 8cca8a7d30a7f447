"""Exports of a round's aggregated results: CSV and Excel.

Only group figures, read through the `RoundResults` accessors, so a suppressed group's cells say
"not enough responses" and nothing else. Never an individual answer, never a name, never a
comment (comments are individual text; they are shown only in the bot, only where allowed).

CSV: one row per (team, group, component or question). Excel: the same rows on a "Results"
sheet, one row per team on "Teams", and a short "About" sheet saying what the figures mean.

Names people chose (a team named `=HYPERLINK(...)`) are never formulas: any text cell starting
with =, +, -, @, a tab or a carriage return is written with a leading ' (`as_text`), in CSV and in
Excel, where it is also stored as a string cell. Numbers are ours and stay numbers.

The same results always give the same bytes: the workbook's dates are fixed and its zip entries
carry no time of writing, so two exports of a closed round (frozen at its close) are identical.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from framework.content import Framework, default_framework
from rounds.rules.histogram import LevelHistogram
from rounds.rules.results import (
    ComponentResult,
    GroupResult,
    QuestionResult,
    RoundResults,
    TeamResult,
    level_label,
)

__all__ = [
    "NOT_ENOUGH",
    "ROUND_TOTAL",
    "as_text",
    "export_csv",
    "export_xlsx",
    "result_rows",
    "team_rows",
]

NOT_ENOUGH = "not enough responses"
ROUND_TOTAL = "All teams (whole round)"
WHOLE_TEAM = "Whole team"
WHOLE_ROUND = "Whole round"

Cell = str | int | float

# What makes a spreadsheet read a cell as a formula (OWASP's list for CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# The fixed moment written into every workbook's properties and zip entries.
FIXED_MOMENT = datetime(2000, 1, 1)


def as_text(value: Cell) -> Cell:
    """A text cell a spreadsheet will show as text, never run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _columns(framework: Framework) -> list[str]:
    return [
        "round",
        "team",
        "group",
        "responses",
        "invited",
        "response rate",
        "item",
        "number",
        "title",
        "answers",
        *(f"{level.value} {level.name}" for level in framework.levels),
        "median",
        "median level",
        "share at most common level",
        "IQR",
        "change since previous round",
        "perception gap",
    ]


def _number(value: float | None) -> Cell:
    return NOT_ENOUGH if value is None else round(value, 2)


def _rate(submitted: int, roster: int | None) -> Cell:
    if not roster:
        return ""
    return round(submitted / roster, 4)


def _add_level_counts(
    row: dict[str, Cell], framework: Framework, histogram: LevelHistogram | None
) -> None:
    for level in framework.levels:
        row[f"{level.value} {level.name}"] = (
            NOT_ENOUGH if histogram is None else histogram.counts[level.value - 1]
        )


def _component_row(
    base: dict[str, Cell],
    framework: Framework,
    component: ComponentResult,
    change: Cell,
    gap: Cell,
) -> dict[str, Cell]:
    median = component.median()
    histogram = component.histogram()
    row = dict(base)
    row.update(
        {
            "item": "component",
            "number": component.number,
            "title": component.name,
            "answers": NOT_ENOUGH if histogram is None else histogram.total,
            "median": _number(median),
            "median level": NOT_ENOUGH if median is None else level_label(framework, median),
            "share at most common level": NOT_ENOUGH,
            "IQR": NOT_ENOUGH,
            "change since previous round": change,
            "perception gap": gap,
        }
    )
    _add_level_counts(row, framework, histogram)
    if histogram is not None:
        row["share at most common level"] = _number(histogram.modal_share)
        row["IQR"] = _number(histogram.iqr)
    return row


def _question_row(
    base: dict[str, Cell], framework: Framework, question: QuestionResult
) -> dict[str, Cell]:
    histogram = question.histogram()
    median = question.median()
    row = dict(base)
    row.update(
        {
            "item": "question",
            "number": question.number,
            "title": question.title,
            "answers": NOT_ENOUGH if histogram is None else histogram.total,
            "median": _number(median),
            "median level": NOT_ENOUGH if median is None else level_label(framework, median),
            "share at most common level": _number(question.modal_share()),
            "IQR": _number(question.iqr()),
            "change since previous round": "",
            "perception gap": "",
        }
    )
    _add_level_counts(row, framework, histogram)
    return row


def _group_rows(
    results: RoundResults,
    framework: Framework,
    team_name: str,
    group_name: str,
    group: GroupResult,
    roster: int | None,
    team: TeamResult | None,
) -> Iterator[dict[str, Cell]]:
    base: dict[str, Cell] = {
        "round": results.name,
        "team": team_name,
        "group": group_name,
        "responses": group.respondents,
        "invited": "" if roster is None else roster,
        "response rate": _rate(group.respondents, roster),
    }
    team_figures = team is not None and group is team.figures
    changes = team.change_since_previous() if team and team_figures else None
    gaps = team.perception_gap() if team and team_figures else None
    for component in group.components:
        change: Cell = ""
        if changes is not None:
            found = next(c for c in changes if c.number == component.number)
            change = _number(found.delta())
        gap: Cell = ""
        if team_figures and results.role_question:
            gap_of = next((g for g in gaps or () if g.number == component.number), None)
            gap = _number(gap_of.gap() if gap_of else None)
        yield _component_row(base, framework, component, change, gap)
    for question in group.questions:
        yield _question_row(base, framework, question)


def result_rows(
    results: RoundResults, framework: Framework | None = None
) -> Iterator[dict[str, Cell]]:
    """Every row of the export: the whole round, then each team and its role groups."""
    framework = framework or default_framework()
    yield from _group_rows(
        results, framework, ROUND_TOTAL, WHOLE_ROUND, results.whole, results.roster, None
    )
    for team in results.teams:
        yield from _group_rows(
            results, framework, team.name, WHOLE_TEAM, team.figures, team.roster, team
        )
        for group in team.role_groups:
            yield from _group_rows(results, framework, team.name, group.label, group, None, None)


def team_rows(
    results: RoundResults, framework: Framework | None = None
) -> Iterator[dict[str, Cell]]:
    """One row per team (and the whole round): responses and component medians."""
    framework = framework or default_framework()
    entries: list[tuple[str, GroupResult, int]] = [(ROUND_TOTAL, results.whole, results.roster)]
    entries += [(t.name, t.figures, t.roster) for t in results.teams]
    for name, group, roster in entries:
        row: dict[str, Cell] = {
            "round": results.name,
            "team": name,
            "responses": group.respondents,
            "invited": roster,
            "response rate": _rate(group.respondents, roster),
            "results": NOT_ENOUGH if group.suppressed else "shown",
        }
        for component in group.components:
            row[f"{component.number}. {component.name} (median)"] = _number(component.median())
        yield row


def export_csv(results: RoundResults, path: Path | str, framework: Framework | None = None) -> None:
    """The aggregated results of a round as CSV (UTF-8 with a byte-order mark, for Excel)."""
    framework = framework or default_framework()
    with Path(path).open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.DictWriter(handle, fieldnames=_columns(framework))
        writer.writeheader()
        for row in result_rows(results, framework):
            writer.writerow({column: as_text(value) for column, value in row.items()})


def _sheet(workbook: Workbook, title: str, columns: list[str], rows: list[dict[str, Cell]]) -> None:
    sheet = workbook.create_sheet(title)
    sheet.append(columns)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        sheet.append([as_text(row.get(column, "")) for column in columns])
    _strings_stay_strings(sheet)
    sheet.freeze_panes = "A2"
    for index, column in enumerate(columns, start=1):
        width = max([len(column), *(len(str(r.get(column, ""))) for r in rows[:200])])
        sheet.column_dimensions[get_column_letter(index)].width = min(max(width + 2, 8), 60)


def export_xlsx(
    results: RoundResults, path: Path | str, framework: Framework | None = None
) -> None:
    """The aggregated results of a round as an Excel workbook."""
    framework = framework or default_framework()
    workbook = Workbook()
    default = workbook.active
    if default is not None:
        workbook.remove(default)
    teams = list(team_rows(results, framework))
    team_columns = list(teams[0]) if teams else ["round", "team"]
    _sheet(workbook, "Teams", team_columns, teams)
    _sheet(workbook, "Results", _columns(framework), list(result_rows(results, framework)))
    about = workbook.create_sheet("About")
    notes: list[Any] = [
        f"{results.name}: aggregated results per team. No individual answers, no names.",
        f"A group's results are shown only with at least {results.min_group} responses, and only "
        "when no smaller group could be worked out by subtracting other results; otherwise its "
        f"cells say '{NOT_ENOUGH}'. Response counts are always shown.",
        "Levels: "
        + ", ".join(f"{level.value} {level.name}" for level in framework.levels)
        + ". Medians between two levels are shown as x.5.",
        "Share at most common level: the share of answers at the most frequent level "
        "(agreement). IQR: the spread of the middle half of the answers, in levels.",
        "Change since previous round: this round's median minus the previous round's, same team. "
        "Perception gap: the leaders' median minus the frontline staff's.",
    ]
    for note in notes:
        about.append([as_text(note)])
    _strings_stay_strings(about)
    about.column_dimensions["A"].width = 120
    for row in about.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    workbook.properties.creator = "impact-bot"
    workbook.properties.created = FIXED_MOMENT
    workbook.properties.modified = FIXED_MOMENT
    buffer = io.BytesIO()
    workbook.save(buffer)
    Path(path).write_bytes(_without_times(buffer.getvalue()))


def _strings_stay_strings(sheet: Any) -> None:
    """Every text cell stored as a string (openpyxl reads a leading = as a formula)."""
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"


def _without_times(xlsx: bytes) -> bytes:
    """The same zip with every entry dated FIXED_MOMENT (openpyxl dates them now), and the
    workbook's modified date, which openpyxl sets on saving, fixed too."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(xlsx)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _fixed_core(data)
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_MOMENT.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            target.writestr(entry, data)
    return out.getvalue()


def _fixed_core(xml: bytes) -> bytes:
    stamp = FIXED_MOMENT.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    return re.sub(
        rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
        rb"\g<1>" + stamp + rb"\g<2>",
        xml,
    )
