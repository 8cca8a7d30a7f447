"""A card drawn and serialised once per key, in a bounded cache: the round steps draw the same
invitation or nudge card for thousands of people (a round, its set of teams, its closing day),
in the service or in the worker process, where the cache lives as long as the worker."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

CARDS_KEPT = 4096  # past this the cache starts again: keys are few, a leak would not be


def drawn_once(cards: dict[K, str], key: K, draw: Callable[[], str]) -> str:
    """`cards[key]`, drawing it with `draw()` the first time."""
    cached = cards.get(key)
    if cached is None:
        cached = draw()
        if len(cards) > CARDS_KEPT:
            cards.clear()
        cards[key] = cached
    return cached
