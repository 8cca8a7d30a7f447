"""The render check's harness: Microsoft's official Adaptive Cards renderer (npm `adaptivecards`,
pinned in checks/package.json) in headless Chromium, driven by Playwright.

`CardPage.render(card, width)` parses the card with a serialization context targeting version
1.5 (Teams' ceiling), collects every parse event and every validation event of
`validateProperties()`, renders it into a box `width` pixels wide, and answers what it found.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Page, Route

from tests.paths import REPO

RENDERER = REPO / "checks" / "node_modules" / "adaptivecards" / "dist" / "adaptivecards.min.js"
MAX_BYTES = 80 * 1024  # Microsoft's advice for a bot message's card
MAX_VERSION = (1, 5)  # Teams' ceiling
PHONE_WIDTH = 360
DESKTOP_WIDTH = 1000

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><style>
body { margin: 0; padding: 8px; background: #f5f5f5; font-family: "Segoe UI", sans-serif; }
#card { background: #fff; border: 1px solid #e0e0e0; border-radius: 4px; }
</style></head><body><div id="card"></div></body></html>"""

_RENDER = r"""([payload, width]) => {
  const AC = window.AdaptiveCards;
  const events = [];
  const describe = (e) => ({
    phase: AC.ValidationPhase[e.phase], event: AC.ValidationEvent[e.event], message: e.message,
  });
  // Teams renders a subset of markdown in TextBlocks (bold, italic, links); the renderer needs
  // a processor for it. TextRuns (people's words) are never processed.
  AC.AdaptiveCard.onProcessMarkdown = (text, result) => {
    const escaped = text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    result.outputHtml = escaped
      .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
      .replace(/_(.+?)_/g, "<em>$1</em>");
    result.didProcess = true;
  };
  const card = new AC.AdaptiveCard();
  card.hostConfig = new AC.HostConfig({
    fontFamily: "Segoe UI, Helvetica Neue, sans-serif", supportsInteractivity: true,
  });
  const context = new AC.SerializationContext(AC.Versions.v1_5);
  card.parse(payload, context);
  for (let i = 0; i < context.eventCount; i++) events.push(describe(context.getEventAt(i)));
  for (const e of card.validateProperties().validationEvents) events.push(describe(e));
  const host = document.getElementById("card");
  host.innerHTML = "";
  host.style.width = width + "px";
  const element = card.render();
  if (element) host.appendChild(element);
  else events.push({phase: "Render", event: "Nothing", message: "render() returned nothing"});
  return {events, version: card.version ? card.version.toString() : null,
          height: host.offsetHeight};
}"""


def cards_of(built: dict[str, Any]) -> list[dict[str, Any]]:
    """The cards in what a builder returned: the card itself, or a message activity's cards."""
    if built.get("type") == "message":
        return [a["content"] for a in built.get("attachments", [])]
    return [built]


@dataclass
class Rendered:
    events: list[dict[str, str]]
    version: str | None
    height: int
    screenshots: dict[int, Path] = field(default_factory=dict)


class CardPage:
    """One Chromium page with the renderer loaded; images are served from `images`."""

    def __init__(self, page: Page) -> None:
        self.page = page

    @classmethod
    async def open(cls, page: Page, images: dict[str, bytes]) -> CardPage:
        async def serve_image(route: Route) -> None:
            body = images.get(route.request.url)
            if body is None:
                await route.abort()
            else:
                await route.fulfill(status=200, content_type="image/png", body=body)

        await page.route("**/*", serve_image)
        await page.set_content(_PAGE)
        await page.add_script_tag(path=str(RENDERER))
        return cls(page)

    async def render(self, card: dict[str, Any], width: int) -> Rendered:
        await self.page.set_viewport_size({"width": width + 40, "height": 800})
        found = await self.page.evaluate(_RENDER, [card, width])
        await self.page.wait_for_function(
            "Array.from(document.images).every(image => image.complete)"
        )
        return Rendered(found["events"], found["version"], int(found["height"]))

    async def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        await self.page.locator("#card").screenshot(path=str(path))
        return path


def write_index(folder: Path, rows: Iterable[tuple[str, dict[str, str], int]]) -> Path:
    """index.html: every card at phone and desktop width, with its size."""
    cells = []
    for name, shots, size in rows:
        images = "".join(
            f'<figure><img src="{html.escape(src)}" alt="{html.escape(name)}, {label}" '
            f'loading="lazy"><figcaption>{label}</figcaption></figure>'
            for label, src in shots.items()
        )
        cells.append(
            f"<section><h2>{html.escape(name)}</h2><p>{size:,} bytes</p>"
            f'<div class="shots">{images}</div></section>'
        )
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>impact-bot: every card, rendered</title><style>"
        "body{font-family:sans-serif;margin:1rem}section{border-top:1px solid #ccc}"
        ".shots{display:flex;gap:1rem;align-items:flex-start;flex-wrap:wrap}"
        "figure{margin:0}img{border:1px solid #ddd;max-width:100%}</style></head><body>"
        "<h1>Every card the bot can send, rendered by Microsoft's Adaptive Cards renderer</h1>"
        + "".join(cells)
        + "</body></html>"
    )
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def card_bytes(card: dict[str, Any]) -> int:
    return len(json.dumps(card, ensure_ascii=False, separators=(",", ":")).encode())


def versions(card: Any) -> list[str]:
    """The version of the card and of every card inside it (Action.ShowCard)."""
    found: list[str] = []
    if isinstance(card, dict):
        if card.get("type") == "AdaptiveCard" and "version" in card:
            found.append(str(card["version"]))
        for value in card.values():
            found += versions(value)
    elif isinstance(card, list):
        for item in card:
            found += versions(item)
    return found
