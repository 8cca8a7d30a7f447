"""The privacy feature's cards: the link to a person's own data (and why there is none without a
public address), `forget me`'s confirmation and its outcomes."""

from __future__ import annotations

from collections.abc import Iterator

from bot.cards import privacy as cards
from tests.bot.cards.rendering.card_fixture import CardFixture

LINK = "https://impact.example.nhs.uk/my-data/" + "Abc123_-" * 5 + "xyz"


def privacy_fixtures() -> Iterator[CardFixture]:
    yield CardFixture("my data: the link", cards.my_data_card, (LINK, 15))
    yield CardFixture("my data: no public address", cards.my_data_unavailable_card)
    yield CardFixture("forget me: asks first", cards.forget_confirm_card, (1795000000, 15))
    yield CardFixture("forget me: expired", cards.forget_expired_card)
    yield CardFixture("forget me: erased", cards.forgotten_card)
    yield CardFixture("forget me: kept", cards.kept_card)
    yield CardFixture("nothing stored", cards.nothing_stored_card)
