"""Inputs the fuzz test (tests/fuzz) found mishandled, each kept as a plain regression test:
through the real service on loopback and the fake Bot Connector, SQLite and PostgreSQL."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, select

from bot.identity import display_name
from framework.identity import Identity
from impact.features import FEATURES
from store.db import Database
from store.huddles.tables import TeamParent
from store.people import Person
from tests.bot.dialogs.test_rounds_participation import round_with_staff  # noqa: F401
from tests.conftest import Clock
from tests.fakes.teams_client import BOT_ID, TeamsUser, card_of, card_text, find_action
from tests.huddles.world import ADMIN_AAD, WARD, World, world  # noqa: F401
from tests.rounds.services.test_steps import complete

pytestmark = pytest.mark.service

APOLOGY = "something went wrong on my side"


def said(user: TeamsUser) -> str:
    return "\n".join(card_text(card) for _id, card in user.cards()) + "\n".join(user.texts())


@pytest.mark.parametrize("reply_to", [None, "1:no-such-card"])
async def test_a_refused_submit_without_a_card_to_replace_still_gets_its_note(
    teams_user: Callable[..., TeamsUser], reply_to: str | None
) -> None:
    """Action.Submit data whose answer replaces the pressed card, but with no card to replace
    (no replyToId, or one Teams does not know): the note arrives as a new card, no apology."""
    user = teams_user()
    value = {"verb": "results", "round_id": 1, "team_id": 1}
    result = await user.post(user.activity(type="message", value=value, replyToId=reply_to))
    assert result.status < 300
    assert "ⓘ" in said(user)
    assert APOLOGY not in said(user)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("task/fetch", {"data": 1}),
        ("composeExtension/query", []),
        ("healthCheck", None),
        ("", None),
        ("x/y", "z"),
    ],
)
async def test_an_invoke_the_bot_does_not_handle_gets_400_not_501(
    teams_user: Callable[..., TeamsUser], name: str, value: object
) -> None:
    user = teams_user()
    result = await user.post(user.activity(type="invoke", name=name, value=value))
    assert result.status == 400
    assert result.body == {"error": "this bot does not handle that invoke"}
    assert not user.chat()


@pytest.mark.parametrize("members", [[{}], [{"id": "29:someone-teams-does-not-know"}]])
async def test_someone_joining_a_chat_is_not_looked_up_in_teams(
    teams_user: Callable[..., TeamsUser], members: list[dict[str, str]]
) -> None:
    """A conversationUpdate naming a member with no id, or one Teams does not know: the SDK's
    lookup of each member failed the turn; the bot only needs to know if it was added."""
    user = teams_user()
    result = await user.post(user.activity(type="conversationUpdate", membersAdded=members))
    assert result.status < 300
    assert APOLOGY not in said(user)
    assert not [call for call in user.connector.calls if call.kind == "members"]


@pytest.mark.parametrize(
    ("via", "data"),
    [
        ("submit", {"verb": "round_close", "round": 1}),
        ("execute", {"verb": "round_close", "round": 1}),
        ("execute", {"verb": "huddle_pause", "schedule": 1}),
        ("submit", {"verb": "alignment_aim_add", "title": "x"}),
        ("execute", {"verb": "help"}),
        ("execute", {"verb": "carry_on"}),
        ("submit", {"verb": "reminder_times", "remind_days": ["not", "text"]}),
        ("execute", {"verb": "no_such_verb"}),
    ],
)
async def test_a_verb_not_on_the_live_question_card_pressed_on_it_keeps_it_live(
    teams_user: Callable[..., TeamsUser], via: str, data: dict[str, object]
) -> None:
    """A forged press on the live question card with a verb it has no button for (rounds',
    huddles', alignment's, the assessment's own help, bad data, an unknown verb): the reply
    replaced the card with a bare note, leaving the person no live card. Now the assessment
    answers: the same question, live, with the note."""
    user = teams_user()
    await user.install()
    await user.press("Start")
    await user.press("Next", {"level": "2"})
    card_id, _card = user.last_card()
    if via == "submit":
        await user.post(user.activity(type="message", value=data, replyToId=card_id))
    else:
        await user.execute(
            card_id, str(data["verb"]), {k: v for k, v in data.items() if k != "verb"}
        )
    shown = card_of(user.connector.activity(user.conversation_id, card_id)) or {}
    assert "Next" in [a.get("title") for a in shown.get("actions") or []]
    assert "Question 2 of 22" in card_text(shown)
    assert "Nothing was changed" in card_text(shown)


@pytest.mark.parametrize(
    "data",
    [
        {"verb": "huddle_skip", "schedule": 2**31},
        {"verb": "snooze", "round": 2**62},
        {"verb": "results", "round_id": 2**31, "team_id": 1},
        {"verb": "answer", "aid": 2**31, "rev": 0, "q": 1, "level": 2},
    ],
)
async def test_an_id_too_big_for_the_database_is_refused_not_a_failed_turn(
    teams_user: Callable[..., TeamsUser], data: dict[str, object]
) -> None:
    """Ids are PostgreSQL int4 columns: 2**31 in card data failed the query (integer out of
    range) and the turn; now the card data is refused like any other bad value."""
    user = teams_user()
    await user.post(user.activity(type="message", value=data))
    assert "ⓘ" in said(user)
    assert APOLOGY not in said(user)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("\x00", ""),
        ("Al\x00ex\nMorgan", "Al ex Morgan"),
        ("\ud800Alex", "Alex"),
        ("x" * 300, "x" * 256),
    ],
)
async def test_a_display_name_is_stored_as_one_line_of_text(
    teams_user: Callable[..., TeamsUser], db: Database, sent: str, stored: str
) -> None:
    """NUL (which PostgreSQL refuses) or a lone surrogate (not UTF-8) in the name Teams sends
    failed the turn; control characters are dropped, the rest kept, as one line."""
    user = teams_user(name=sent)
    await user.say("help")
    assert APOLOGY not in said(user)
    assert user.cards()
    names = db.run_sync(
        lambda s: s.exec(select(Person.name).where(Person.teams_user_id == user.user_id)).all()
    )
    assert names == [stored]
    assert display_name("👩‍⚕️ Nia\u200d") == "👩‍⚕️ Nia\u200d"  # joiners in names are kept


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("from", None, "from.id"),
        ("from", {"name": "No Id"}, "from.id"),
        ("conversation", {"conversationType": "personal"}, "conversation.id"),
        ("recipient", None, "recipient"),
        ("serviceUrl", None, "serviceUrl"),
        ("serviceUrl", 3.5e16, "serviceUrl"),
        ("serviceUrl", "ftp://example.org/", "serviceUrl"),
        ("id", [{}, []], "string id"),
        ("replyToId", {"a": 1}, "string id"),
    ],
)
async def test_an_activity_that_cannot_be_answered_is_refused_with_400(
    teams_user: Callable[..., TeamsUser], db: Database, key: str, value: object, problem: str
) -> None:
    """No sender id, conversation id, recipient or http(s) service URL: such activities failed
    the turn (an AttributeError, a request to nowhere) or were audited as from 'teams:None'."""
    user = teams_user()
    activity = user.activity(type="message", value={"verb": "alignment_menu", "page": 1})
    if value is None:
        del activity[key]
    else:
        activity[key] = value
    result = await user.post(activity)
    assert result.status == 400
    assert result.body == {"error": f"activity has no {problem}"}
    assert db.run_sync(lambda s: s.exec(select(Person)).all()) == []


@pytest.mark.parametrize("locale", ["👩‍⚕️" * 2_000, ["en-GB"] * 3_000, "en-GB; DROP", 42])
async def test_a_locale_that_is_not_one_is_not_carried_into_replies(
    teams_user: Callable[..., TeamsUser], locale: object
) -> None:
    """Replies carry the activity's locale back to Teams: a huge forged one made every reply
    too big for Teams (MessageSizeTooBig) and failed the turn. It is dropped instead."""
    user = teams_user()
    result = await user.post(user.activity(type="message", text="help", locale=locale))
    assert result.status < 300
    assert APOLOGY not in said(user)
    sent = [call.body for call in user.connector.calls if call.kind in ("send", "reply")]
    assert sent
    assert all("locale" not in body or body["locale"] is None for body in sent)


async def test_a_real_locale_is_kept(teams_user: Callable[..., TeamsUser]) -> None:
    user = teams_user()
    await user.post(user.activity(type="message", text="help", locale="en-GB"))
    sent = [call.body for call in user.connector.calls if call.kind in ("send", "reply")]
    assert sent
    assert sent[0]["locale"] == "en-GB"


async def test_change_my_answers_on_a_superseded_submission_is_refused_not_a_failed_turn(
    round_with_staff: Any,  # noqa: F811
    db: Database,
    clock: Clock,
) -> None:
    """Submitted, changed and submitted again: the first submission is 'superseded', a status
    the assessment's rules did not know, so any turn that read that assessment (a press on one
    of its cards) failed. Pressing Change my answers on the first profile card now gets a note."""
    round_id, staff, _url = round_with_staff
    person = staff(1)
    complete(db, Identity(person.tenant_id, "29:staff-1", None, "Staff 1"), round_id, 2, clock.now)
    await person.say("status")
    first_profile, card = person.last_card()
    change = find_action(card, "Change my answers")
    await person.press("Change my answers")
    await person.press("Submit my answers")
    result = await person.execute(first_profile, "reopen", change["data"])  # pressed again
    assert result.status == 200
    assert APOLOGY not in said(person)
    await person.say("status")
    assert "Thank you" in card_text(person.last_card()[1])


def _mention(bot_id: str, **fields: object) -> dict[str, object]:
    return {"type": "mention", "text": "<at>NHS IMPACT</at>", **fields} | (
        {} if "mentioned" in fields else {"mentioned": {"id": bot_id, "name": "NHS IMPACT"}}
    )


@pytest.mark.parametrize(
    "entities",
    [
        [{}],
        [{"type": None}],
        [{"type": 5}],
        [{"type": "mention"}],
        [{"type": "mention", "mentioned": "NHS IMPACT"}],
        [{"type": "mention", "mentioned": {"name": "NHS IMPACT"}, "text": ["<at>x</at>"]}],
        [_mention(BOT_ID, text="<at>[click</at>")],  # not a pattern: the SDK's re.sub failed
        [_mention(BOT_ID, text=None, mentioned={"id": BOT_ID, "name": None})],
        [{"type": "clientInfo", "locale": "en-GB"}, {}],
    ],
)
async def test_malformed_entities_are_ignored_and_the_text_is_read_as_typed(
    teams_user: Callable[..., TeamsUser], entities: list[dict[str, object]]
) -> None:
    """An entity without a string type (`[{}]`) failed the turn in the SDK's mention helper
    (`None.lower()`), and a mention of the bot without a well-formed `mentioned` or `text`
    failed it too. Entities are the sender's to write: the malformed ones are ignored, and
    the text gets the same answer as without them."""
    text = "[click](https://evil.example)"
    plain, forged = teams_user(), teams_user()
    await plain.say(text)
    result = await forged.post(forged.activity(type="message", text=text, entities=entities))
    assert result.status < 300
    assert APOLOGY not in said(forged)
    assert [card_text(card) for _id, card in forged.cards()] == [
        card_text(card) for _id, card in plain.cards()
    ]
    assert forged.texts() == plain.texts()


@pytest.mark.parametrize(
    "entities",
    [
        [{}, _mention(BOT_ID)],
        [_mention(BOT_ID), {"type": 5}],
        [{"type": "MENTION", "text": "<at>NHS IMPACT</at>", "mentioned": {"id": BOT_ID}}],
    ],
)
async def test_a_mention_of_the_bot_among_malformed_entities_is_still_removed(
    teams_user: Callable[..., TeamsUser], entities: list[dict[str, object]]
) -> None:
    user = teams_user()
    result = await user.post(
        user.activity(type="message", text="<at>NHS IMPACT</at> help", entities=entities)
    )
    assert result.status < 300
    assert "What I can do" in card_text(user.last_card()[1])


# Control characters (NUL: PostgreSQL text cannot hold it) and a lone surrogate (not UTF-8).
UNSTORABLE = ("\x00", "\ud800", "1\x00\x07\ud800")


@pytest.mark.parametrize(
    ("team", "refusal"),
    [
        ("\x00", "Choose a team first. Nothing was changed."),
        ("\ud800", "Choose a team first. Nothing was changed."),
        ("19:nowhere\x00@thread.tacv2", "The bot is not installed in the team 19:nowhere@"),
    ],
)
async def test_a_team_id_with_a_nul_is_refused_as_no_team_the_bot_is_in(
    world: World,  # noqa: F811
    team: str,
    refusal: str,
) -> None:
    """An admin's `team_parent_save` with team "\\u0000" reached PostgreSQL (psycopg.DataError:
    text cannot contain NUL) and failed the turn; it is refused like any unknown team."""
    lead = world.person("lead", "Sam Lead")
    await world.team(WARD, "Ward 7", [lead], [])
    admin = world.person("admin", "Ivy Improver", aad_object_id=ADMIN_AAD)
    await admin.say("team tree")
    card_id, _tree = admin.last_card()
    result = await admin.execute(card_id, "team_parent_save", {"team": team, "parent": "none"})
    assert result.status == 200
    assert refusal in card_text(admin.last_card()[1])
    assert APOLOGY not in said(admin)
    assert world.db.run_sync(lambda s: s.exec(select(TeamParent)).all()) == []


def _takes(annotation: Any, kind: type) -> bool:
    """Whether a model field's annotation accepts `kind` (through Optional and Annotated)."""
    if annotation is kind:
        return True
    if get_origin(annotation) in (Annotated, Union, types.UnionType):
        return any(_takes(arg, kind) for arg in get_args(annotation))
    return False


def _with_every_text_field(model: Any, verb: str, text: str) -> dict[str, Any]:
    """Card data for `verb`: `text` in every string field, 1 in every id, a literal's first."""
    data: dict[str, Any] = {"verb": verb}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        literal = next(
            (a for a in (annotation, *get_args(annotation)) if get_origin(a) is Literal), None
        )
        if name == "verb":
            continue
        if _takes(annotation, str):
            data[name] = text
        elif _takes(annotation, int):
            data[name] = 1
        elif literal is not None:
            data[name] = get_args(literal)[0]
    return data


def _stored_text(db: Database) -> list[str]:
    def read(session: Any) -> list[str]:
        found = []
        for table in SQLModel.metadata.sorted_tables:
            for row in session.execute(sa.select(table)).all():
                found += [value for value in row if isinstance(value, str)]
        return found

    return db.run_sync(read)


@pytest.mark.parametrize("text", UNSTORABLE)
async def test_no_card_verb_or_text_command_passes_a_control_character_on(
    world: World,  # noqa: F811
    text: str,
) -> None:
    """Every registered verb, with the unstorable `text` in each of its string fields, and
    text commands with it, from an admin (who may do the most) in the chat and a team: each
    gets an answer, no turn fails, and no such character is stored anywhere."""
    lead = world.person("lead", "Sam Lead")
    await world.team(WARD, "Ward 7", [lead], [])
    await world.schedule(WARD)
    admin = world.person("admin", "Ivy Improver", aad_object_id=ADMIN_AAD)
    await admin.install()
    senders = [admin, lead.in_channel(WARD)]
    verbs = [(v.verb, v.model) for feature in FEATURES for v in feature.verbs]
    assert len(verbs) > 40
    for sender in senders:
        for verb, model in verbs:
            before = len(sender.chat())
            data = _with_every_text_field(model, verb, text)
            result = await sender.post(sender.activity(type="message", value=data))
            assert result.status < 300, (verb, result.body)
            assert len(sender.chat()) > before, verb
        for typed in ("team tree", "huddles", "help", "my data", "zzz"):
            result = await sender.say(f"{typed}{text}")
            assert result.status < 300, typed
    assert not [sender for sender in senders if APOLOGY in said(sender)]
    stored = _stored_text(world.db)
    assert not [value for value in stored if "\x00" in value]
    assert not [value for value in stored if any(0xD800 <= ord(ch) < 0xE000 for ch in value)]
