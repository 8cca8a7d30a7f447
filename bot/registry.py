"""What a feature declares to the Teams edge, and what its handlers receive and return.

A feature (see impact/features/) lists its dialogs, and in tables:

- `TextCommand`: words typed in a chat (`rounds`, `away until 24 December`) → a dialog method;
- `CardVerb`: a card button's verb, with the pydantic model that validates its data → a method;
- `Route`: an HTTP endpoint beside /api/messages (chart images, export downloads);
- `Recover`: how to put the person back on a live card when a card sends data that no verb's
  model accepts (forged, malformed, oversized).

The router (bot.router) dispatches from these tables; it never names a feature. A handler is a
dialog method taking the `Turn` (who, where) and the validated input, and returning a `Reply`.
Dialogs are built once per service from the `FeatureContext`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from bot.actions.base import CardAction
from framework.identity import Identity

if TYPE_CHECKING:
    from aiohttp import web

    from bot.config import Settings
    from bot.teams_reads import TeamsDirectory
    from framework.content import Framework
    from store.db import Database
    from store.personal import PersonalData
    from store.process_reads import ProcessReads

Card = dict[str, Any]
Scope = Literal["personal", "channel", "groupChat"]
PERSONAL: frozenset[Scope] = frozenset({"personal"})
ANYWHERE: frozenset[Scope] = frozenset({"personal", "channel", "groupChat"})

D = TypeVar("D")
M = TypeVar("M", bound=CardAction)


@dataclass(frozen=True)
class Turn:
    """Who is speaking, and where: what every handler needs to know about the activity."""

    identity: Identity
    scope: Scope = "personal"
    conversation_id: str = ""
    team_id: str | None = None  # Teams' id of the team, in a team's channel
    channel_id: str | None = None
    invoked: bool = False  # an Action.Execute invoke: the replacement card is its answer
    card_id: str | None = None  # the activity id of the card whose button was pressed


@dataclass(frozen=True)
class CardUpdate:
    """A card posted earlier, to be shown differently from now on (updated in place)."""

    activity_id: str
    card: Card


Posted = Callable[[str], Awaitable[list[CardUpdate]]]


@dataclass
class Reply:
    """What a turn sends back: an optional replacement for the card that was used, then cards.

    `posted`, if set, is told the activity id of the last card sent once Teams has it (a
    dialog keeps it to know which card is live) and returns cards posted earlier to update in
    place (e.g. an older copy of the same question, which now says "continued below").
    `everyone`: the replacement is a card everyone in the conversation shares (a huddle prompt
    in a channel). Teams shows an Action.Execute answer to the person who pressed only, so the
    message itself is updated too (Universal Actions' "replace for all")."""

    replace: Card | None = None
    send: list[Card] = field(default_factory=list)
    posted: Posted | None = None
    everyone: bool = False


@dataclass(frozen=True)
class FeatureContext:
    """Everything a feature's dialogs, jobs and routes are built from, once per service."""

    settings: Settings
    db: Database
    framework: Framework
    clock: Callable[[], datetime]
    teams: TeamsDirectory
    # Background work in batches (the round steps) calls this between batches: it returns once
    # no turn is in flight, or after a few tens of milliseconds (bot.turns.TurnsInFlight).
    give_way: Callable[[], Awaitable[None]]
    wake_sender: Callable[[], None] = lambda: None  # new outbox rows: send now, not at next poll
    # Every feature's personal-data hooks, in registration order (the privacy feature walks them).
    personal_data: tuple[PersonalData, ...] = ()
    # Long reads in a worker process (store.process_reads), closed with the service; None where
    # no other process can open the database (in-memory SQLite).
    process_reads: ProcessReads | None = None


TextHandler = Callable[[D, Turn, str], Awaitable[Reply]]
VerbHandler = Callable[[D, Turn, M], Awaitable[Reply]]
# Card data no verb's model accepts: the raw data (never trusted: ids in it may be forged) and a
# one-line description of the problem → the person's live card with a note, or None if the
# feature has nothing to show this person here.
Recover = Callable[[D, Turn, Mapping[str, Any], str], Awaitable[Reply | None]]
RouteHandler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


_MENTION_TAG = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_LEADING_MENTION = re.compile(r"^\s*@\S+")


def normalise_text(text: str) -> str:
    """What a person typed, as commands are matched: without a leading @mention (Teams'
    `<at>…</at>`, or a typed `@name`), lower case, punctuation read as spaces (apostrophes and
    hyphens inside a word are kept: `don't`, `mon-fri`), one space between words.

    `Thanks!!`, `@NHS IMPACT stop.` and `not now…` read as `thanks`, `stop` and `not now`."""
    text = _LEADING_MENTION.sub("", _MENTION_TAG.sub(" ", text))
    text = unicodedata.normalize("NFKC", text).replace("’", "'").lower()
    kept = [ch if ch.isalnum() or ch in "'-" else " " for ch in text]
    words = (word.strip("'-") for word in "".join(kept).split())
    return " ".join(word for word in words if word)


_WORD = re.compile(r"^[a-z0-9][a-z0-9 '-]*$")


@dataclass(frozen=True)
class TextCommand(Generic[D]):
    """Words that start a dialog method. `words` are exact phrases (after `normalise_text`);
    `matches` takes anything else a feature recognises (e.g. `away until 24 December`).
    `title` and `description` are what help and Teams' command list show."""

    handle: TextHandler[D]
    words: tuple[str, ...] = ()
    matches: Callable[[str], bool] | None = None
    scopes: frozenset[Scope] = PERSONAL
    title: str = ""
    description: str = ""
    # Where Teams' command menu lists it (the manifest allows a handful per scope); None: every
    # scope where it works. It works where `scopes` says, listed or not.
    menu: frozenset[Scope] | None = None

    @property
    def menu_scopes(self) -> frozenset[Scope]:
        return self.scopes if self.menu is None else self.menu & self.scopes

    def __post_init__(self) -> None:
        if not self.words and self.matches is None:
            raise ValueError(f"{_name(self.handle)}: a command needs words or a matcher")
        for word in self.words:
            if normalise_text(word) != word or not _WORD.match(word):
                raise ValueError(f"{_name(self.handle)}: {word!r} is not a normalised phrase")


@dataclass(frozen=True)
class CardVerb(Generic[D, M]):
    """A card button: its model (a `CardAction` subclass with a `verb` literal) validates the
    data the card sends back; the handler receives the validated model."""

    model: type[M]
    handle: VerbHandler[D, M]
    scopes: frozenset[Scope] = PERSONAL

    @property
    def verb(self) -> str:
        return self.model.verb_name()


@dataclass(frozen=True)
class Route:
    """An HTTP endpoint of the feature's, built from the context (aiohttp's router syntax)."""

    method: Literal["GET", "POST"]
    path: str
    build: Callable[[FeatureContext], RouteHandler]


def _name(handler: Callable[..., Any]) -> str:
    return str(getattr(handler, "__qualname__", handler))
