"""Capturing a huddle from its card in the team's channel, through the real service and the fake
Bot Connector, on SQLite and PostgreSQL: I'm here, ideas, actions, escalations, item changes,
held or not; the card updated in place for everyone; stale, duplicate and forged presses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import col, select

from store.audit import AuditEntry
from store.huddles.tables import HuddleAttendance, HuddleItem
from tests.bot.cards.test_cards import walk
from tests.fakes.teams_client import PostResult, TeamsUser, card_of, card_text
from tests.huddles.world import WARD, World

pytestmark = pytest.mark.service

THURSDAY = datetime(2026, 11, 26, 8, 25, tzinfo=UTC)
OTHER_TEAM = "19:ward9@thread.tacv2"


async def posted(world: World) -> tuple[TeamsUser, TeamsUser, str]:
    """Ward 7 (Sam leads, Nia is a member) with its Thursday prompt delivered to its channel:
    (Sam in the channel, Nia in the channel, the card's id)."""
    lead = world.person("lead", "Sam Lead")
    nurse = world.person("nurse", "Nia Nurse")
    await world.team(WARD, "Ward 7", [lead], [nurse])
    await world.schedule(WARD)
    world.clock.now = THURSDAY
    assert await world.services.steps.post_due(THURSDAY) == 1
    await world.deliver()
    [(card_id, _card)] = world.channel_cards(WARD)
    return lead.in_channel(WARD), nurse.in_channel(WARD), card_id


def shared(world: World, card_id: str) -> dict[str, Any]:
    """The card as everyone in the channel sees it: as posted, or as the bot last updated the
    message (the fake shows the presser's own view, an invoke's answer, in its place)."""
    bodies = [
        call.body
        for call in world.connector.calls
        if call.conversation_id == WARD
        and call.status < 300
        and (call.activity_id == card_id and call.kind in ("send", "update"))
    ]
    card = card_of(bodies[-1])
    assert card is not None
    return card


def action(card: dict[str, Any], title: str) -> dict[str, Any]:
    """A button anywhere on the card (forms' Save buttons sit inside their ShowCard)."""
    for element in walk(card):
        if element["type"].startswith("Action.") and element.get("title") == title:
            return element
    raise AssertionError(f"no {title!r} on the card")


def input_value(card: dict[str, Any], input_id: str) -> Any:
    return next(e for e in walk(card) if e.get("id") == input_id).get("value")


async def press(
    user: TeamsUser, world: World, card_id: str, title: str, inputs: dict[str, Any] | None = None,
    via: str = "execute",
) -> PostResult:  # fmt: skip
    found = action(shared(world, card_id), title)
    return await user.press_action(card_id, found, inputs or {}, via=via)


def updates(world: World) -> int:
    return world.connector.accepted("update")


def items(world: World) -> list[HuddleItem]:
    return world.db.run_sync(
        lambda s: list(s.exec(select(HuddleItem).order_by(col(HuddleItem.id))).all())
    )


def audit_log(world: World, prefix: str) -> list[tuple[str, bool]]:
    return world.db.run_sync(
        lambda s: [
            (a.action, a.allowed)
            for a in s.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()
            if a.action.startswith(prefix)
        ]
    )


async def test_im_here_counts_each_person_once_and_updates_the_card_for_everyone(
    world: World,
) -> None:
    lead, nurse, card_id = await posted(world)
    assert "0 people" in card_text(shared(world, card_id))
    result = await press(nurse, world, card_id, "I'm here")
    assert result.status == 200
    assert updates(world) == 1, "the message itself is updated, not only the presser's view"
    text = card_text(shared(world, card_id))
    assert "✓ Nia Nurse is here." in text
    assert "1 person" in text
    await press(lead, world, card_id, "I'm here")
    await press(nurse, world, card_id, "I'm here")  # a double tap
    assert "You're already counted, Nia Nurse." in card_text(nurse.last_card()[1])
    assert updates(world) == 2, "a refusal changes nobody else's card"
    count = world.db.run_sync(lambda s: len(s.exec(select(HuddleAttendance)).all()))
    assert count == 2


async def test_ideas_actions_and_escalations_are_added_from_the_card_once(world: World) -> None:
    lead, nurse, card_id = await posted(world)
    typed = "Try a **bold** [handover](http://evil.example) board"
    save_idea = action(shared(world, card_id), "Save idea")
    await nurse.press_action(card_id, save_idea, {"idea_text": typed})
    await nurse.press_action(card_id, save_idea, {"idea_text": typed})  # a double tap
    card = shared(world, card_id)
    assert "Nia Nurse added an idea" in card_text(card)
    runs = [e["text"] for e in walk(card) if e["type"] == "TextRun"]
    assert typed in runs, "what people typed is a TextRun, never markdown"
    assert all("evil.example" not in e["text"] for e in walk(card) if e["type"] == "TextBlock")
    assert "That idea is on the board already." in card_text(nurse.last_card()[1])

    await press(nurse, world, card_id, "Save action",
                {"action_text": "Order more pads", "action_owner": lead.user_id,
                 "action_due": "2026-11-27"})  # fmt: skip
    await press(lead, world, card_id, "Save escalation",
                {"escalation_text": "Broken hoist on bay 2"})  # fmt: skip
    text = card_text(shared(world, card_id))
    assert "Sam Lead · due Fri 27 Nov" in text
    assert "Waiting on us" in text, "a top team's escalation waits on its own board"
    stored = [(i.kind, i.text, i.status, i.due) for i in items(world)]
    assert stored == [
        ("idea", typed, "new", None),
        ("action", "Order more pads", "open", datetime(2026, 11, 27).date()),
        ("escalation", "Broken hoist on bay 2", "open", None),
    ]


async def test_a_form_that_cannot_be_saved_comes_back_filled_in(world: World) -> None:
    _lead, nurse, card_id = await posted(world)
    long_idea = "x" * 600
    await press(nurse, world, card_id, "Save idea", {"idea_text": long_idea})
    card = nurse.last_card()[1]
    assert "The idea is 600 characters long" in card_text(card)
    assert input_value(card, "idea_text") == long_idea
    await press(nurse, world, card_id, "Save action",
                {"action_text": "Audit", "action_owner": "29:not-in-the-team",
                 "action_due": "2026-11-27"})  # fmt: skip
    card = nurse.last_card()[1]
    assert "Choose the action's owner from the team. Nothing was added." in card_text(card)
    assert input_value(card, "action_text") == "Audit"
    await press(
        nurse,
        world,
        card_id,
        "Save action",
        {"action_text": "Audit", "action_owner": "me", "action_due": "2026-11-20"},
    )
    assert "That due date has passed" in card_text(nurse.last_card()[1])
    assert items(world) == []
    assert updates(world) == 0


async def test_forged_presses_change_nothing_and_say_so(world: World) -> None:
    lead, nurse, card_id = await posted(world)
    here = action(shared(world, card_id), "I'm here")

    async def forged(user: TeamsUser, data: dict[str, Any]) -> str:
        result = await user.execute(card_id, "huddle_here", {"verb": "huddle_here", **data})
        assert result.status == 200
        return card_text(result.body["value"])

    assert "That huddle doesn't exist" in await forged(nurse, {"huddle": 999})
    assert "can't use" in await forged(nurse, {"huddle": "abc"})
    stranger = world.person("stranger", "Pat Stranger").in_channel(WARD)
    assert "Only members of Ward 7" in await forged(stranger, {"huddle": here["data"]["huddle"]})
    other = world.person("other", "Oli Other")
    await world.team(OTHER_TEAM, "Ward 9", [other], [])
    elsewhere = other.in_channel(OTHER_TEAM)
    assert "another team's huddle" in await forged(elsewhere, here["data"])
    attendance = world.db.run_sync(lambda s: len(s.exec(select(HuddleAttendance)).all()))
    assert attendance == 0
    assert updates(world) == 0
    assert lead.team_id == WARD


async def test_items_change_from_the_card_once_per_press_and_never_from_a_stale_card(
    world: World,
) -> None:
    _lead, nurse, card_id = await posted(world)
    await press(nurse, world, card_id, "Save idea", {"idea_text": "Protected mealtimes"})
    [idea] = items(world)
    ref = f"idea:{idea.id}:0"
    save = action(shared(world, card_id), "Save change")
    await nurse.press_action(card_id, save, {"item": ref, "change": "start_cycle"})
    assert "Testing · PDSA cycle 1" in card_text(shared(world, card_id))
    await nurse.press_action(card_id, save, {"item": ref, "change": "start_cycle"})  # stale
    assert "changed since this card was drawn" in card_text(nurse.last_card()[1])
    await nurse.press_action(card_id, save, {"item": f"idea:{idea.id}:1", "change": "done"})
    assert "is for actions, not ideas" in card_text(nurse.last_card()[1])
    await nurse.press_action(card_id, save, {"item": f"idea:{idea.id}:1", "change": "adopt"})
    [adopted] = items(world)
    assert (adopted.status, adopted.cycles, adopted.revision) == ("adopted", 1, 2)
    assert "Protected mealtimes" not in card_text(shared(world, card_id)), "no longer open"
    await nurse.press_action(card_id, save, {"item": "idea:nope", "change": "adopt"})
    assert "Choose an item" in card_text(nurse.last_card()[1])


async def test_only_a_lead_records_whether_the_huddle_was_held(world: World) -> None:
    lead, nurse, card_id = await posted(world)
    await press(nurse, world, card_id, "Held", {"outcome_note": "Good one"})
    assert "Only the team's leads and the improvement team" in card_text(nurse.last_card()[1])
    await press(lead, world, card_id, "Didn't happen", {})
    assert "Say why the huddle didn't happen" in card_text(lead.last_card()[1])
    await press(lead, world, card_id, "Held", {"outcome_note": "Short, *everyone* came"})
    card = shared(world, card_id)
    assert "✓ Recorded as held by Sam Lead." in card_text(card)
    assert "Short, *everyone* came" in [e["text"] for e in walk(card) if e["type"] == "TextRun"]
    await press(lead, world, card_id, "Didn't happen", {"outcome_note": "Changed my mind"})
    assert "recorded already" in card_text(lead.last_card()[1])
    assert audit_log(world, "huddle.") == [
        ("huddle.schedule", True),
        ("huddle.held", False),
        ("huddle.not_held", True),
        ("huddle.held", True),
        ("huddle.not_held", True),
    ]


async def test_the_submit_fallback_updates_the_card_in_place(world: World) -> None:
    _lead, nurse, card_id = await posted(world)
    await press(nurse, world, card_id, "I'm here", via="submit")
    assert "1 person" in card_text(shared(world, card_id))
    await press(nurse, world, card_id, "I'm here", via="submit")
    texts = [card_text(c) for _i, c in world.channel_cards(WARD)]
    assert "ⓘ You're already counted, Nia Nurse." in texts[-1], "a note, the card left live"
    assert "1 person" in card_text(shared(world, card_id))


async def test_anyone_in_the_team_lists_its_open_ideas_and_actions(world: World) -> None:
    _lead, nurse, card_id = await posted(world)
    await press(nurse, world, card_id, "Save idea", {"idea_text": "Quiet hour"})
    await press(
        nurse,
        world,
        card_id,
        "Save action",
        {"action_text": "Book room", "action_owner": "me", "action_due": "2026-11-26"},
    )
    await nurse.say("ideas")
    ideas = card_text(world.channel_cards(WARD)[-1][1])
    assert "Open ideas" in ideas
    assert "Quiet hour" in ideas
    await nurse.say("actions")
    listing_id, listing = world.channel_cards(WARD)[-1]
    assert "Due today · \nNia Nurse · due Thu 26 Nov" in card_text(listing)
    [_idea, book] = items(world)
    save = action(listing, "Save change")
    await nurse.press_action(listing_id, save, {"item": f"action:{book.id}:0", "change": "done"})
    assert "No open actions." in card_text(shared(world, listing_id))
    chat = world.people["nurse"]
    await chat.say("ideas")
    assert "Type that in your team's channel" in card_text(chat.last_card()[1])
