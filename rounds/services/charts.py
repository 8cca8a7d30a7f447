"""The summary chart: each component's median as a horizontal bar, drawn with Pillow.

Made to be read at about 300 px wide (Teams on a phone shows card images at the card's width):
the image is drawn at 2.4 times that, with text large enough to stay legible when scaled down.
Component names sit on their own line above each bar, the median is printed at the end of each
bar, and the axis names the levels (staggered on two lines so they never overlap). Meaning never
depends on colour: one dark blue for every bar on white, numbers printed.

Every shown chart of a framework has the same component names over the same empty tracks and
the same axis: that body is drawn once a process (`_body`) and pasted below each heading, and
only the bars and their numbers are drawn per team (a chart took 22 ms, 17 ms since, two thirds
of it the PNG encoding; a trust's close draws some 300).

Deterministic: the same results give the same bytes (no timestamps or metadata in the PNG). An
image is stored under a random token (store.rounds.charts), never a hash of its content, and only
for a team whose results are shown (:func:`stored_chart_url`): a hidden team's card says it in
words.

Figures come only through the `rounds.rules.results` accessors, so a hidden group draws the
"not enough responses" image, never a bar.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from PIL import Image, ImageDraw, ImageFont
from sqlmodel import Session

from framework.content import Framework
from rounds.rules.results import RoundResults, TeamResult, format_level, level_label
from store.rounds.charts import save_chart

__all__ = [
    "CHART_WIDTH",
    "chart_alt_text",
    "chart_url",
    "component_chart_png",
    "is_hidden",
    "stored_chart_url",
    "team_chart",
]

CHART_WIDTH = 720
_MARGIN = 28
_VALUE_SPACE = 84  # room right of the track for "3.5"
_BAR_HEIGHT = 40

_WHITE = (255, 255, 255)
_TEXT = (33, 43, 50)  # NHS "black"
_SUBTLE = (66, 84, 98)  # NHS dark grey
_BAR = (0, 48, 135)  # NHS dark blue: 12.6:1 on white
_TRACK = (232, 237, 238)  # NHS pale grey
_GRID = (142, 154, 162)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class _Fonts:
    title: Font
    label: Font
    value: Font
    axis: Font
    note: Font


def _fonts() -> _Fonts:
    return _Fonts(
        title=ImageFont.load_default(size=34),
        label=ImageFont.load_default(size=28),
        value=ImageFont.load_default(size=32),
        axis=ImageFont.load_default(size=27),
        note=ImageFont.load_default(size=25),
    )


def _width(draw: ImageDraw.ImageDraw, text: str, font: Font) -> float:
    return draw.textlength(text, font=font)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and _width(draw, trial, font) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    return lines or [""]


def _line_height(font: Font) -> int:
    size = getattr(font, "size", 12)
    return round(size * 1.25)


def _text_block(
    draw: ImageDraw.ImageDraw,
    lines: list[str],
    x: float,
    y: float,
    font: Font,
    fill: tuple[int, int, int],
    *,
    bold: bool = False,
) -> float:
    for line in lines:
        draw.text(
            (x, y), line, font=font, fill=fill, stroke_width=1 if bold else 0, stroke_fill=fill
        )
        y += _line_height(font)
    return y


def _axis_labels(
    draw: ImageDraw.ImageDraw,
    levels: Sequence[tuple[int, str]],
    x_of: Callable[[float], float],
    fonts: _Fonts,
) -> list[tuple[float, int, list[str]]]:
    """(x, row, lines) for each level name, centred on its tick where it fits. Odd levels go on
    the first row, between the neighbouring (even) ticks, whose lines run down to the second
    row; even levels go on the second row. A name wraps when its space is too narrow."""
    left, right = _MARGIN, CHART_WIDTH - _MARGIN
    pad = 10
    placed: list[tuple[float, int, list[str]]] = []
    for k, name in levels:
        lo = left if k == 1 else x_of(k - 1) + pad
        hi = right if k == len(levels) else x_of(k + 1) - pad
        text = f"{k} {name}"
        lines = _wrap(draw, text, fonts.axis, hi - lo)
        width = max(_width(draw, line, fonts.axis) for line in lines)
        x0 = min(max(x_of(k) - width / 2, lo), hi - width)
        placed.append((x0, 0 if k % 2 else 1, lines))
    return placed


def is_hidden(team: TeamResult) -> bool:
    """Whether the team's chart would show no figures ("not enough responses")."""
    return team.suppressed or all(c.median() is None for c in team.figures.components)


def _hidden_message(team: TeamResult, min_group: int) -> str:
    return (
        f"Not enough responses to show results ({team.submitted} of {team.roster} responded; "
        f"results appear from {min_group})"
    )


def _x_of(value: float) -> float:
    """The x of a level (0–5) on the bars' track."""
    track_left = _MARGIN
    track_right = CHART_WIDTH - _MARGIN - _VALUE_SPACE
    return track_left + (track_right - track_left) * value / 5


def _heading(
    scratch: ImageDraw.ImageDraw, team: TeamResult, round_name: str, fonts: _Fonts
) -> tuple[list[str], list[str]]:
    """The title's and the subtitle's lines."""
    inner = CHART_WIDTH - 2 * _MARGIN
    title = _wrap(scratch, f"{team.name}: median level per component", fonts.title, inner)
    subtitle_text = round_name
    if not is_hidden(team):
        subtitle_text = f"{round_name} · {team.submitted} responses".strip(" ·")
    subtitle = _wrap(scratch, subtitle_text, fonts.note, inner) if subtitle_text else []
    return title, subtitle


def _draw_hidden(draw: ImageDraw.ImageDraw, message: list[str], y: float, fonts: _Fonts) -> None:
    """The boxed "not enough responses" message in place of the bars."""
    box_top = y
    box_bottom = box_top + _line_height(fonts.label) * len(message) + 32
    draw.rectangle((_MARGIN, box_top, CHART_WIDTH - _MARGIN, box_bottom), outline=_TEXT, width=3)
    _text_block(draw, message, _MARGIN + 20, box_top + 16, fonts.label, _TEXT)


def component_chart_png(
    team: TeamResult,
    framework: Framework,
    *,
    round_name: str = "",
    min_group: int = 5,
) -> bytes:
    """A PNG bar chart of the team's median level per component (1–5)."""
    fonts = _fonts()
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    inner = CHART_WIDTH - 2 * _MARGIN
    title, subtitle = _heading(scratch, team, round_name, fonts)
    heading_height = _MARGIN + _line_height(fonts.title) * len(title) + 6
    heading_height += _line_height(fonts.note) * len(subtitle) + 18
    if is_hidden(team):
        message = _wrap(scratch, _hidden_message(team, min_group), fonts.label, inner - 40)
        height = heading_height + _line_height(fonts.label) * len(message) + 48 + _MARGIN
        image, draw = _headed(title, subtitle, height, fonts)
        _draw_hidden(draw, message, heading_height, fonts)
        return _png(image)

    components = team.figures.components
    body = _body(
        tuple(f"{c.number}. {c.name}" for c in components),
        tuple((level.value, level.name) for level in framework.levels),
    )
    image, draw = _headed(title, subtitle, heading_height + body.image.height + _MARGIN, fonts)
    image.paste(body.image, (0, heading_height))
    bars = [
        (heading_height + top, c.median()) for top, c in zip(body.bar_tops, components, strict=True)
    ]
    _draw_bars(draw, bars, _x_of, fonts)
    return _png(image)


def _headed(
    title: list[str], subtitle: list[str], height: int, fonts: _Fonts
) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A white image of `height` with the title and subtitle drawn at its top."""
    image = Image.new("RGB", (CHART_WIDTH, height), _WHITE)
    draw = ImageDraw.Draw(image)
    y = _text_block(draw, title, _MARGIN, _MARGIN, fonts.title, _TEXT, bold=True) + 6
    _text_block(draw, subtitle, _MARGIN, y, fonts.note, _SUBTLE)
    return image, draw


@dataclass(frozen=True)
class _Body:
    """What every shown chart of a framework has below its heading: each component's name over
    its empty track, and the axis. Only the bars and their numbers differ between teams."""

    image: Image.Image  # never drawn on: each chart pastes a copy
    bar_tops: tuple[int, ...]  # each track's top, from the body's top


@functools.lru_cache(maxsize=8)
def _body(labels: tuple[str, ...], levels: tuple[tuple[int, str], ...]) -> _Body:
    """The body for these component labels and level names, drawn once a process. A trust's
    close draws some 300 charts; their labels and axis were two thirds of a chart's text
    (benchmarks/trust_scale.py)."""
    fonts = _fonts()
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    inner = CHART_WIDTH - 2 * _MARGIN
    wrapped = [_wrap(scratch, label, fonts.label, inner) for label in labels]
    axis = _axis_labels(scratch, levels, _x_of, fonts)
    height = sum(_line_height(fonts.label) * len(lines) + 4 + _BAR_HEIGHT + 20 for lines in wrapped)
    axis_lines = [
        max((len(lines) for _, r, lines in axis if r == row), default=1) for row in (0, 1)
    ]
    height += 18 + sum(_line_height(fonts.axis) * n for n in axis_lines) + 12
    image = Image.new("RGB", (CHART_WIDTH, height), _WHITE)
    draw = ImageDraw.Draw(image)
    y, tops = 0, []
    for lines in wrapped:
        y = round(_text_block(draw, lines, _MARGIN, y, fonts.label, _TEXT)) + 4
        tops.append(y)
        y += _BAR_HEIGHT + 20
    _draw_tracks(draw, tops, _x_of)
    _draw_axis(draw, levels, axis, y - 20, _x_of, fonts)
    return _Body(image, tuple(tops))


def _draw_tracks(
    draw: ImageDraw.ImageDraw, tops: Sequence[int], x_of: Callable[[float], float]
) -> None:
    """Each bar's empty track, with gridlines at each level inside it."""
    track_left, track_right = x_of(0), x_of(5)
    for bar_top in tops:
        draw.rectangle((track_left, bar_top, track_right, bar_top + _BAR_HEIGHT), fill=_TRACK)
        for value in range(1, 6):
            x = round(x_of(value))
            draw.line((x, bar_top, x, bar_top + _BAR_HEIGHT), fill=_GRID, width=2)


def _draw_bars(
    draw: ImageDraw.ImageDraw,
    bars: Sequence[tuple[float, float | None]],
    x_of: Callable[[float], float],
    fonts: _Fonts,
) -> None:
    """The bars over their tracks, and their numbers."""
    track_left = x_of(0)
    for bar_top, median in bars:
        if median is None:
            draw.text(
                (track_left + 12, bar_top + _BAR_HEIGHT / 2),
                "not enough answers",
                font=fonts.axis,
                fill=_TEXT,
                anchor="lm",
            )
            continue
        end = x_of(median)
        draw.rectangle((track_left, bar_top, end, bar_top + _BAR_HEIGHT), fill=_BAR)
        draw.text(
            (end + 10, bar_top + _BAR_HEIGHT / 2),
            format_level(median),
            font=fonts.value,
            fill=_TEXT,
            anchor="lm",
            stroke_width=1,
            stroke_fill=_TEXT,
        )


def _draw_axis(
    draw: ImageDraw.ImageDraw,
    levels: Sequence[tuple[int, str]],
    axis: list[tuple[float, int, list[str]]],
    plot_bottom: float,
    x_of: Callable[[float], float],
    fonts: _Fonts,
) -> None:
    """A tick at each level and its name below, the even levels on a second row with a thin line
    up to their tick."""
    track_left, track_right = x_of(0), x_of(5)
    axis_y = plot_bottom + 6
    draw.line((track_left, axis_y, track_right, axis_y), fill=_SUBTLE, width=2)
    for value in range(1, 6):
        x = round(x_of(value))
        draw.line((x, axis_y, x, axis_y + 8), fill=_SUBTLE, width=2)
    first_row_lines = max((len(lines) for _, r, lines in axis if r == 0), default=1)
    row_tops = [axis_y + 12, axis_y + 12 + _line_height(fonts.axis) * first_row_lines + 6]
    for x0, row, lines in axis:
        _text_block(draw, lines, x0, row_tops[row], fonts.axis, _SUBTLE)
    for k, _name in levels:
        if k % 2 == 0:
            x = round(x_of(k))
            draw.line((x, axis_y + 8, x, row_tops[1] + 2), fill=_GRID, width=1)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # zlib's fastest level: some 10 times faster to encode than 9 (which took 85% of a chart's
    # time), for 15% more bytes (about 70 KB); the same image still gives the same bytes.
    image.save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue()


def chart_alt_text(
    team: TeamResult, framework: Framework, *, round_name: str = "", min_group: int = 5
) -> str:
    """The chart in words, for screen readers and clients that show no image."""
    where = f"{team.name}, {round_name}" if round_name else team.name
    if is_hidden(team):
        return f"{where}: {_hidden_message(team, min_group).lower()}."
    lowest, highest = framework.levels[0], framework.levels[-1]
    parts = [
        f"Bar chart of the median level per component for {where} "
        f"({team.submitted} responses), on a scale from 1 ({lowest.name}) to 5 ({highest.name})."
    ]
    for component in team.figures.components:
        median = component.median()
        if median is None:
            parts.append(f"{component.name}: not enough answers.")
        else:
            parts.append(
                f"{component.name}: {format_level(median)} ({level_label(framework, median)})."
            )
    return " ".join(parts)


def team_chart(results: RoundResults, team_id: int, framework: Framework) -> tuple[bytes, str]:
    """The chart of one team in a round and its alt text (what the summary card needs)."""
    team = results.team(team_id)
    name, min_group = results.name, results.min_group
    return (
        component_chart_png(team, framework, round_name=name, min_group=min_group),
        chart_alt_text(team, framework, round_name=name, min_group=min_group),
    )


# --------------------------------------------------------------------------------------------
# Serving: PNGs under random tokens
# --------------------------------------------------------------------------------------------


def chart_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/charts/{token}.png"


def stored_chart_url(
    session: Session,
    results: RoundResults,
    team_id: int,
    framework: Framework,
    *,
    public_url: str | None,
    now: datetime,
) -> tuple[str | None, str]:
    """The team's chart stored for its summary card: (its URL, its alt text). No image is drawn
    or stored for a team whose results are hidden (the card says so in words), nor without a
    public URL to serve it from."""
    team = results.team(team_id)
    name, min_group = results.name, results.min_group
    alt = chart_alt_text(team, framework, round_name=name, min_group=min_group)
    if not public_url or is_hidden(team):
        return None, alt
    png = component_chart_png(team, framework, round_name=name, min_group=min_group)
    token = save_chart(session, png, now, round_id=results.round_id)
    return chart_url(public_url, token), alt
