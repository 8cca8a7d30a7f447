"""The Teams app's two icons, drawn for this product: three rising steps with an arrow up
through them (improvement, one step at a time).

- colour, 192×192: white steps on NHS blue, filling the square (Teams rounds its corners);
- outline, 32×32: the same steps in white on transparent, as Teams requires.

Both are drawn at four times their size and scaled down, so edges are smooth. The committed
PNGs in deployment/teams/ are this module's output (a test redraws them and compares);
`python -m cli.teams_icons deployment/teams` draws them again after a change here.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

NHS_BLUE = (0, 94, 184, 255)  # #005EB8, the NHS identity's blue
WHITE = (255, 255, 255, 255)
CLEAR_WHITE = (255, 255, 255, 0)  # white, fully transparent: scaling keeps every pixel white
COLOR_SIZE = 192
OUTLINE_SIZE = 32
SUPERSAMPLE = 4


def _steps(draw: ImageDraw.ImageDraw, size: int, margin: float, stroke: float) -> None:
    """Three rising bars and an arrow up from the first to past the last, in white."""
    inner = size - 2 * margin
    bar_width = inner * 0.22
    gap = (inner - 3 * bar_width) / 2
    floor = margin + inner
    for index, height in enumerate((0.30, 0.52, 0.74)):
        left = margin + index * (bar_width + gap)
        top = floor - inner * height
        draw.rounded_rectangle(
            (left, top, left + bar_width, floor), radius=bar_width * 0.18, fill=WHITE
        )
    # The arrow: from above the first bar to the top right corner, over the bars.
    start = (margin + bar_width * 0.5, floor - inner * 0.48)
    tip = (margin + inner * 0.98, margin + inner * 0.02)
    draw.line((start, tip), fill=WHITE, width=round(stroke))
    head = inner * 0.24
    draw.polygon(
        [tip, (tip[0] - head, tip[1] + head * 0.18), (tip[0] - head * 0.18, tip[1] + head)],
        fill=WHITE,
    )


def draw_color_icon() -> Image.Image:
    big = COLOR_SIZE * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), NHS_BLUE)
    _steps(ImageDraw.Draw(image), big, margin=big * 0.2, stroke=big * 0.035)
    return image.resize((COLOR_SIZE, COLOR_SIZE), Image.Resampling.LANCZOS)


def draw_outline_icon() -> Image.Image:
    big = OUTLINE_SIZE * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), CLEAR_WHITE)
    _steps(ImageDraw.Draw(image), big, margin=big * 0.06, stroke=big * 0.07)
    return image.resize((OUTLINE_SIZE, OUTLINE_SIZE), Image.Resampling.LANCZOS)


def write_icons(folder: Path) -> tuple[Path, Path]:
    color, outline = folder / "color.png", folder / "outline.png"
    draw_color_icon().save(color, optimize=True)
    draw_outline_icon().save(outline, optimize=True)
    return color, outline


if __name__ == "__main__":  # pragma: no cover
    for path in write_icons(Path(sys.argv[1] if len(sys.argv) > 1 else "deployment/teams")):
        print(path)
