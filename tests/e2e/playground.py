"""Harness for end-to-end tests through Microsoft 365 Agents Playground.

The Playground (npm ``@microsoft/m365agentsplayground``, pinned in ``e2e/package.json``) is a
local, offline imitation of the Teams client. It serves a web UI plus a mock Bot Connector
(``/_connector``) and posts Teams-shaped activities to the bot endpoint. We drive its UI with
Playwright in headless Debian Chromium.

Facts this harness relies on (checked against 0.2.28, see ``e2e/README.md``):

* ``node cli.js -e <endpoint> -c msteams -p <port> --disable-telemetry`` prints
  ``Listening on <port>`` on stdout. If the port is taken it silently falls back to a random
  one, so the real port is read from that line. ``GET /_debug/ping`` answers ``pong``.
* It calls ``open(url)`` after listening and exits with code 1 if no browser can be opened;
  ``TEAMSAPPTESTER_BROWSER=none`` skips that call, and a no-op ``xdg-open`` first on PATH
  covers it too.
* It writes ``./devTools/m365agentsplayground.log`` relative to its cwd and reads an optional
  ``.m365agentsplayground.yml`` from its cwd, so it runs in a scratch ``workdir``.
* Bot messages render as ``.fai-OutputCard``; Adaptive Cards inside them as ``.ac-adaptiveCard``
  (a shown ``Action.ShowCard`` sub-card is another ``.ac-adaptiveCard`` nested inside); the
  compose box is the only ``[role=textbox]`` outside the messages; Enter sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NoReturn
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Locator, Page, Playwright, Route, expect

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
E2E_DIR: Final = REPO_ROOT / "e2e"
PLAYGROUND_CLI: Final = E2E_DIR / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final[tuple[str, ...]] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
)
INSTALL_HINT: Final = (
    "run `cd e2e && npm ci` and `apt-get install -y chromium chromium-driver` to enable e2e tests"
)

_LISTENING = re.compile(rb"Listening on (\d+)")
_BOT_MESSAGE: Final = ".fai-OutputCard"
_CARD: Final = ".ac-adaptiveCard"
_CHANNEL_POST: Final = ".fui-Card[role=group]"  # a post in a Teams channel view

# The sidebar's conversations with the built-in configuration (no .m365agentsplayground.yml):
# one team, "My Team" (id ``team-id``, whose General channel has the same id), six members.
PERSONAL_CHAT: Final = "Personal Chat"
GENERAL_CHANNEL: Final = "My Team - General"


def free_port() -> int:
    """A currently free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail where the end-to-end test is required (CI sets IMPACT_REQUIRE_E2E=1)."""
    if os.environ.get("IMPACT_REQUIRE_E2E") == "1":
        pytest.fail(f"end-to-end test required but {reason}")
    pytest.skip(reason)


def require_node_playground() -> str:
    """Path of ``node``; skips the test if node or the Playground package is missing."""
    node = shutil.which("node")
    if node is None:
        unavailable(f"node is not installed; {INSTALL_HINT}")
    if not PLAYGROUND_CLI.is_file():
        unavailable(f"{PLAYGROUND_CLI.relative_to(REPO_ROOT)} is missing; {INSTALL_HINT}")
    return node


def require_chromium() -> Path:
    """Path of Debian's Chromium; skips the test if it is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} is missing; {INSTALL_HINT}")
    return CHROMIUM


async def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Debian Chromium (Playwright's own browser downloads are not available)."""
    executable = require_chromium()
    return await playwright.chromium.launch(
        executable_path=str(executable), args=list(CHROMIUM_ARGS), headless=True
    )


@dataclass
class PlaygroundProcess:
    """A running Playground server."""

    process: asyncio.subprocess.Process
    port: int
    workdir: Path
    stdout_path: Path
    log_path: Path
    _drain: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The web UI. ``localhost`` (not 127.0.0.1) because that is what the app itself uses."""
        return f"http://localhost:{self.port}/"

    @property
    def service_url(self) -> str:
        """The serviceUrl the Playground puts on every activity it sends to the bot."""
        return f"http://localhost:{self.port}/_connector"

    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr) plus its log file."""
        parts = [p.read_text(errors="replace") for p in (self.stdout_path, self.log_path)]
        return "\n".join(parts)

    async def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the whole process group, SIGKILL it after ``grace`` seconds."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                await self.process.wait()
        if self._drain is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain


async def _drain_output(
    stream: asyncio.StreamReader, sink: Path, port: asyncio.Future[int]
) -> None:
    with sink.open("ab") as out:
        while line := await stream.readline():
            out.write(line)
            out.flush()
            match = _LISTENING.search(line)
            if match and not port.done():
                port.set_result(int(match.group(1)))
    if not port.done():
        port.set_exception(RuntimeError("Playground exited before it was listening"))


def _ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _prepare_workdir(workdir: Path) -> tuple[Path, Path, Path]:
    """Create the scratch dir with a no-op ``xdg-open``; returns (bindir, log, stdout file)."""
    workdir.mkdir(parents=True, exist_ok=True)
    bindir = workdir / "bin"
    bindir.mkdir(exist_ok=True)
    xdg_open = bindir / "xdg-open"
    xdg_open.write_text("#!/bin/sh\nexit 0\n")
    xdg_open.chmod(0o755)
    log_path = workdir / "devTools" / "m365agentsplayground.log"
    log_path.parent.mkdir(exist_ok=True)
    log_path.touch()
    stdout_path = workdir / "playground.out"
    stdout_path.write_bytes(b"")
    return bindir, log_path, stdout_path


@contextlib.asynccontextmanager
async def start_playground(
    bot_endpoint: str,
    workdir: Path,
    *,
    port: int | None = None,
    conversation_id: str | None = None,
    startup_timeout: float = 30.0,
) -> AsyncIterator[PlaygroundProcess]:
    """Run the Playground against ``bot_endpoint`` until the ``async with`` block ends.

    ``workdir`` becomes its cwd (it writes ``devTools/m365agentsplayground.log`` there and would
    read a ``.m365agentsplayground.yml`` from there). ``conversation_id`` fixes the personal
    chat's conversation id, which is otherwise a random UUID per process.
    """
    node = require_node_playground()
    bindir, log_path, stdout_path = _prepare_workdir(workdir)

    env = dict(os.environ)
    env.update(
        PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}",
        TEAMSAPPTESTER_BROWSER="none",  # don't call open(url) at all
        M365_AGENTS_PLAYGROUND_LOGFILE=str(log_path),
        M365_AGENTS_PLAYGROUND_CONFIG_PATH=str(workdir / ".m365agentsplayground.yml"),
        APPLICATION_INSIGHTS_NO_STATSBEAT="true",
        APPLICATION_INSIGHTS_NO_DIAGNOSTIC_CHANNEL="true",
    )
    for stray in ("BOT_ENDPOINT", "DEFAULT_CHANNEL_ID", "SEND_INSTALLATION_ACTIVITY"):
        env.pop(stray, None)
    args = [
        str(PLAYGROUND_CLI),
        "--app-endpoint",
        bot_endpoint,
        "--channel-id",
        "msteams",
        "--port",
        str(port or free_port()),
        "--disable-telemetry",
    ]
    if conversation_id is not None:
        args += ["--conversation-id", conversation_id]

    process = await asyncio.create_subprocess_exec(
        node,
        *args,
        cwd=workdir,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # own process group, so stop() reaches every child
    )
    assert process.stdout is not None
    listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    drain = asyncio.create_task(_drain_output(process.stdout, stdout_path, listening))
    playground = PlaygroundProcess(process, 0, workdir, stdout_path, log_path, drain)
    try:
        try:
            async with asyncio.timeout(startup_timeout):
                playground.port = await listening
                ping = f"http://127.0.0.1:{playground.port}/_debug/ping"
                while not await asyncio.to_thread(_ping, ping):
                    if process.returncode is not None:
                        raise RuntimeError(f"Playground exited with {process.returncode}")
                    await asyncio.sleep(0.1)
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(
                f"Playground did not start ({exc!r}); output:\n{playground.output()}"
            ) from exc
        yield playground
    finally:
        await playground.stop()


class PlaygroundPage:
    """The Playground's personal chat with the bot, in a Playwright page."""

    def __init__(self, page: Page, timeout_s: float = 15.0) -> None:
        """``timeout_s``: default wait, in seconds, for every step (Playwright takes ms)."""
        self.page = page
        self.timeout_ms = timeout_s * 1000
        page.set_default_timeout(self.timeout_ms)

    @classmethod
    async def open(
        cls, browser: Browser, playground: PlaygroundProcess, timeout_s: float = 15.0
    ) -> PlaygroundPage:
        """Open the UI, block everything not on loopback, wait for the chat to be set up.

        Every page load makes the Playground send ``installationUpdate`` (action ``add``) and
        ``conversationUpdate`` (membersAdded: user and bot) to the bot; this waits until the
        bot has answered the ``conversationUpdate``. Each load starts with an empty chat.
        """
        page = await browser.new_page(viewport={"width": 1280, "height": 1000})
        await page.route("**/*", _loopback_only)
        self = cls(page, timeout_s)
        await page.goto(playground.url)
        await self.compose_box.wait_for()
        await self.wait_for_log(re.compile(r"^conversationUpdate \d{3}$"))
        return self

    # -- locators ---------------------------------------------------------------------------

    @property
    def compose_box(self) -> Locator:
        return self.page.locator("[role=textbox][contenteditable=true]")

    @property
    def bot_messages(self) -> Locator:
        """Every message from the bot, oldest first (cards replaced in place keep their slot)."""
        return self.page.locator(_BOT_MESSAGE)

    @property
    def cards(self) -> Locator:
        """Bot messages that hold an Adaptive Card."""
        return self.bot_messages.filter(has=self.page.locator(_CARD))

    def last_card(self) -> Locator:
        return self.cards.last

    @property
    def channel_posts(self) -> Locator:
        """Every post in the channel being shown, oldest first (bot posts and user posts)."""
        return self.page.locator(_CHANNEL_POST)

    def log_entries(self, text: str | re.Pattern[str]) -> Locator:
        """Log Panel traffic lines such as ``conversationUpdate 201`` (see ``wait_for_log``)."""
        return self.page.get_by_text(text)

    # -- waiting ----------------------------------------------------------------------------

    async def wait_for_bot_message_count(self, count: int, timeout_s: float | None = None) -> None:
        """Wait until at least ``count`` bot messages are shown."""
        if count > 0:
            await self.bot_messages.nth(count - 1).wait_for(timeout=self._ms(timeout_s))

    async def wait_for_message_containing(
        self, text: str, timeout_s: float | None = None
    ) -> Locator:
        """The newest bot message whose text contains ``text``, once it is shown."""
        message = self.bot_messages.filter(has_text=text).last
        await message.wait_for(timeout=self._ms(timeout_s))
        return message

    async def wait_for_card_containing(self, text: str, timeout_s: float | None = None) -> Locator:
        """The newest Adaptive Card whose text contains ``text``, once it is shown."""
        card = self.cards.filter(has_text=text).last
        await card.wait_for(timeout=self._ms(timeout_s))
        return card

    async def wait_for_post_containing(self, text: str, timeout_s: float | None = None) -> Locator:
        """The newest channel post holding an Adaptive Card whose text contains ``text``."""
        post = self.channel_posts.filter(has=self.page.locator(_CARD)).filter(has_text=text).last
        await post.wait_for(timeout=self._ms(timeout_s))
        return post

    async def wait_for_log(
        self, text: str | re.Pattern[str], timeout_s: float | None = None
    ) -> str:
        """Wait for a Log Panel entry such as ``invoke 200`` or ``message 201``; returns it.

        Each traffic line ends in one element "<activity type> <HTTP status>", e.g.
        ``re.compile(r"^invoke \\d{3}$")``.
        """
        entry = self.page.get_by_text(text).last
        await entry.wait_for(timeout=self._ms(timeout_s))
        return await entry.inner_text()

    # -- acting -----------------------------------------------------------------------------

    async def open_conversation(self, name: str) -> None:
        """Select a conversation in the sidebar: ``PERSONAL_CHAT``, ``"Group Chat"``,
        ``GENERAL_CHANNEL`` or ``"My Team - Announcements"`` (built-in configuration: channels
        are named "<team> - <channel>").

        This is not a page load: messages already shown stay. The first time a channel is
        opened in a page, the Playground installs the bot in the team: it sends
        ``installationUpdate`` (``add``) and ``conversationUpdate`` (``membersAdded``: the bot;
        in a channel with ``channelData.team``), as Teams does when the app is added to a team.
        """
        await self.page.get_by_role("treeitem", name=name, exact=True).click()
        # The sidebar does not mark the selected item for assistive technology; a channel's
        # view is the one with the "Start a new post" box.
        new_post = self.page.get_by_text("Start a new post", exact=True)
        if " - " in name:
            await new_post.wait_for()
        else:
            await expect(new_post).to_have_count(0, timeout=self.timeout_ms)
            await self.compose_box.wait_for()

    async def send_text(
        self, text: str, *, expect_replies: int = 1, timeout_s: float | None = None
    ) -> None:
        """Type ``text`` in the compose box, press Enter, wait for ``expect_replies`` new bot
        messages (0: don't wait)."""
        before = await self.bot_messages.count()
        await self.compose_box.fill(text)
        await self.compose_box.press("Enter")
        await self.wait_for_bot_message_count(before + expect_replies, timeout_s)

    async def choose(self, label_text: str, card: Locator | None = None) -> None:
        """Tick the choice labelled ``label_text`` in an expanded ``Input.ChoiceSet``
        (radio buttons; checkboxes when ``isMultiSelect``) of ``card`` (default: last card)."""
        scope = card or self.last_card()
        choice = scope.get_by_role("radio", name=label_text, exact=True).or_(
            scope.get_by_role("checkbox", name=label_text, exact=True)
        )
        await choice.check()

    async def fill_comment(
        self, text: str, label: str | None = None, card: Locator | None = None
    ) -> None:
        """Type into an ``Input.Text`` of ``card`` (default: last card): the one whose label
        (or placeholder) is ``label``, or the first one."""
        scope = card or self.last_card()
        box = (
            scope.get_by_role("textbox", name=label, exact=True)
            if label is not None
            else scope.get_by_role("textbox").first
        )
        await box.fill(text)

    async def click_action(
        self, title: str, card: Locator | None = None, *, expect_replies: int = 0
    ) -> None:
        """Click the card action titled ``title`` (Action.Execute/Submit/ShowCard/OpenUrl).

        ``expect_replies``: wait for that many *new* bot messages. A card replaced in place
        (invoke response or update_activity) is not a new message: wait for its new text
        with ``wait_for_card_containing`` instead.
        """
        scope = card or self.last_card()
        before = await self.bot_messages.count()
        await scope.get_by_role("button", name=title, exact=True).click()
        await self.wait_for_bot_message_count(before + expect_replies)

    async def open_show_card(self, title: str, card: Locator | None = None) -> Locator:
        """Expand the ``Action.ShowCard`` titled ``title``; returns the shown sub-card."""
        scope = card or self.last_card()
        button = scope.get_by_role("button", name=title, exact=True)
        if await button.get_attribute("aria-expanded") != "true":
            await button.click()
        await expect(button).to_have_attribute("aria-expanded", "true", timeout=self.timeout_ms)
        sub_card = scope.locator(f"{_CARD} {_CARD}").last
        await sub_card.wait_for()
        return sub_card

    # -- reading ----------------------------------------------------------------------------

    async def last_card_text(self) -> str:
        return await self.last_card().inner_text()

    async def last_message_text(self) -> str:
        return await self.bot_messages.last.inner_text()

    async def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def close(self) -> None:
        await self.page.close()

    def _ms(self, timeout_s: float | None) -> float:
        return self.timeout_ms if timeout_s is None else timeout_s * 1000


async def _loopback_only(route: Route) -> None:
    """Keep the page offline: the UI asks a CDN for Segoe UI fonts, nothing else external."""
    host = urlsplit(route.request.url).hostname or ""
    if host in ("localhost", "127.0.0.1", "::1") or route.request.url.startswith("data:"):
        await route.continue_()
    else:
        await route.abort()
