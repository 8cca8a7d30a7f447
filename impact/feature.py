"""A feature, declared in one place: its dialogs, text commands, card verbs, scheduled work,
HTTP routes, CLI commands and personal data. impact/features/ holds one declaration per
feature and the list of them all; nothing else needs to know a feature exists.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.registry import CardVerb, FeatureContext, Reply, Route, TextCommand, Turn
from cli.registry import CliCommand
from scheduler.work import ScheduledWork
from store.personal import PersonalData

DialogFactory = Callable[[FeatureContext], object]


@dataclass(frozen=True)
class Feature:
    """Handlers in `commands` and `verbs` are methods of the classes in `dialogs` (declared as
    `Dialog.method`); each dialog class is built once per service from the context."""

    name: str
    dialogs: tuple[DialogFactory, ...] = ()
    commands: tuple[TextCommand[Any], ...] = ()
    verbs: tuple[CardVerb[Any, Any], ...] = ()
    # What is typed that no feature understands, and the welcome in a new 1:1 chat: one
    # feature each (a dialog method, as above).
    fallback: Callable[[Any, Turn, str], Awaitable[Reply]] | None = None
    welcome: Callable[[Any, Turn], Awaitable[Reply]] | None = None
    # Card data that none of its verbs' models accepts: back to the person's live card with a
    # note (a dialog method; see bot.registry.Recover). Without it, the person gets the note.
    recover: Callable[[Any, Turn, Mapping[str, Any], str], Awaitable[Reply | None]] | None = None
    # Whether the pressed card is one the feature keeps live for this person and the verb is
    # not one of that card's buttons (a dialog method). Such a press (forged, or any feature's
    # bad data) reaches no handler: the feature's `recover` answers, so the card stays live.
    holds_card: Callable[[Any, Turn, str], Awaitable[bool]] | None = None
    jobs: Callable[[FeatureContext], ScheduledWork] | None = None
    routes: tuple[Route, ...] = ()
    cli: tuple[CliCommand, ...] = ()
    personal_data: tuple[PersonalData, ...] = ()

    def dialog_for(self, handler: Callable[..., Any]) -> DialogFactory:
        """The dialog class that declares this handler (a dialog may be declared as
        `functools.partial(Dialog, port=...)`, to be built with a port besides the context)."""
        for dialog in self.dialogs:
            declared = dialog.func if isinstance(dialog, functools.partial) else dialog
            if getattr(declared, getattr(handler, "__name__", ""), None) is handler:
                return dialog
        raise ValueError(f"{self.name}: {handler!r} is not a method of one of its dialogs")
