"""The router's table (bot.router.Dispatch): typed words matched however they are written, and
card data no model accepts sent to the feature that can put the person back on a live card."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pytest

from bot.actions.base import CardAction
from bot.registry import CardVerb, Reply, TextCommand, Turn, normalise_text
from bot.router import Dispatch
from framework.identity import Identity

pytestmark = pytest.mark.unit

TURN = Turn(Identity("t", "29:u", None, "Alex"), invoked=True, card_id="1:7")


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("Stop", "stop"),
        ("  NOT   now… ", "not now"),
        ("Thanks!!", "thanks"),
        ("thank you.", "thank you"),
        ("@impact stop.", "stop"),
        ("<at>NHS IMPACT</at> pause", "pause"),
        ("<at>NHS IMPACT</at>   carry on!", "carry on"),
        ("what's this?", "what's this"),
        ("“resume”", "resume"),
        ("mon-fri", "mon-fri"),
    ],
)
def test_typed_words_are_read_whatever_their_case_punctuation_or_mention(
    typed: str, read: str
) -> None:
    assert normalise_text(typed) == read


class First(CardAction):
    verb: Literal["first"]
    n: int


class Second(CardAction):
    verb: Literal["second"]


class Recovering:
    """A feature's dialog that can recover (or, with `none`, has nothing to show)."""

    def __init__(self, name: str, *, none: bool = False) -> None:
        self.name, self.none, self.asked = name, none, 0

    async def on_first(self, _turn: Turn, _action: First) -> Reply:
        return Reply()

    async def on_second(self, _turn: Turn, _action: Second) -> Reply:
        return Reply()

    async def stop(self, _turn: Turn, _text: str) -> Reply:
        return Reply()

    async def recover(self, _turn: Turn, raw: Mapping[str, Any], problem: str) -> Reply | None:
        self.asked += 1
        if self.none:
            return None
        return Reply(replace={"by": self.name, "problem": problem, "raw": dict(raw)})


def dispatch(owner_recovers: bool = True) -> tuple[Dispatch, Recovering, Recovering]:
    table = Dispatch()
    owner, other = Recovering("owner"), Recovering("other")
    table.add_verbs(owner, [CardVerb(First, Recovering.on_first)])
    table.add_recovery(owner.recover if owner_recovers else None, ["first"])
    table.add_verbs(other, [CardVerb(Second, Recovering.on_second)])
    table.add_recovery(other.recover, ["second"])
    table.add_commands(owner, [TextCommand(Recovering.stop, words=("stop", "not now"))])
    return table, owner, other


async def test_bad_data_for_a_known_verb_goes_to_the_feature_that_owns_it() -> None:
    table, owner, other = dispatch()
    reply = await table.recover(TURN, {"verb": "first", "n": "x"}, "n: not a number")
    assert reply.replace == {
        "by": "owner", "problem": "n: not a number", "raw": {"verb": "first", "n": "x"}
    }  # fmt: skip
    assert (owner.asked, other.asked) == (1, 0)


async def test_data_with_no_known_verb_goes_to_each_feature_until_one_recovers() -> None:
    table, owner, other = dispatch()
    owner.none = True
    reply = await table.recover(TURN, {"verb": "delete_everything"}, "unknown verb")
    assert reply.replace is not None
    assert reply.replace["by"] == "other"
    assert (owner.asked, other.asked) == (1, 1)
    assert (await table.recover(TURN, "not even a dict", "no data")).replace["by"] == "other"


async def test_a_feature_without_recovery_leaves_a_note_and_nobody_else_is_asked() -> None:
    table, _owner, other = dispatch(owner_recovers=False)
    reply = await table.recover(TURN, {"verb": "first"}, "n: missing")
    assert reply.replace is not None
    text = reply.replace["body"][0]["text"]
    assert text == "ⓘ Sorry, n: missing. Nothing was changed."
    assert "type resume" not in text
    assert other.asked == 0
    typed = Turn(TURN.identity)  # not a card press: the note is sent, not put in place
    assert (await table.recover(typed, {"verb": "first"}, "x")).send


def test_words_registered_once_are_found_however_typed() -> None:
    table, _owner, _other = dispatch()
    assert table.command_for("Not now!") is not None
    assert table.command_for("@impact STOP.") is not None
    assert table.command_for("stopping") is None
