"""Bad input, at scale: Hypothesis sends activities and card actions to the real /api/messages on
loopback (the real service and adapter, the real database on SQLite and PostgreSQL, the fake Bot
Connector as Teams) and checks four properties after each one:

1. no 5xx, and no turn that fails inside the service (an apology with a ref, an ERROR log);
2. stored state changes only as a valid action of its sender: data the router refuses (or a
   broken activity) changes nothing but the sender's own bookkeeping, and nothing anyone sends
   changes another person's rows (tables snapshotted before and after);
3. every message and card action gets a clear reply (a card or a note; a 4xx with a reason);
4. the person mid-assessment always has a live card afterwards.

The world: Ward 7 (Sam leads; Alex and Bea are staff) with a huddle prompt posted in its channel
and an open round whose invitations were delivered; Alex and Bea part-way through; an admin; a
few strangers. Senders are Alex, Sam (chat and channel), the admin and strangers; Bea only ever
has her rows checked. What is sent: the buttons of every card in the sender's chat (old ones
too: replays and out-of-order steps), card data for every verb of every feature from the
registry with missing, extra, mistyped, huge and odd-Unicode fields and others' and unknown ids,
text commands, unknown invokes, other activity types, broken activities, and exact replays.

`make test` runs a short run (IMPACT_FUZZ_EXAMPLES, default 120 per database); `make fuzz` the
long one (10,000 per database). Each run prints its figures.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlmodel import SQLModel

from framework.content import default_framework
from impact.features import FEATURES
from impact.features.rounds import round_steps
from store.db import Database
from store.rounds.lifecycle import RoundSpec, create_round
from tests.fakes.teams_client import TeamsUser, all_actions, card_of
from tests.fuzz import strategies as fz
from tests.huddles.world import ADMIN_AAD, WARD, World, world

__all__ = ["world"]

pytestmark = pytest.mark.service

EXAMPLES = int(os.environ.get("IMPACT_FUZZ_EXAMPLES", "120"))
# Report every failure at the end instead of stopping at the first (for hunting bugs).
COLLECT = os.environ.get("IMPACT_FUZZ_COLLECT") == "1"
THURSDAY = datetime(2026, 11, 26, 8, 25, tzinfo=UTC)
CARD = "application/vnd.microsoft.card.adaptive"
MESSAGE = "application/vnd.microsoft.activity.message"
APOLOGY = "something went wrong on my side"
# Tables a refused input may still touch, for its sender only: who they are and where to reach
# them, the audit of the refusal, and the live card put back in front of them.
BOOKKEEPING = frozenset({"people", "conversation_refs", "audit_log", "live_cards"})
KINDS = (
    "press", "press", "press", "press", "verb", "verb", "verb", "verb", "text", "text",
    "replay", "broken", "invoke", "event",
)  # fmt: skip


# -- the world ------------------------------------------------------------------------------


@dataclass
class Sender:
    key: str
    user: TeamsUser
    scope: str  # personal | channel | groupChat


@dataclass
class Fuzz:
    world: World
    alex: TeamsUser
    bea: TeamsUser
    senders: list[Sender]
    sent: deque[tuple[Sender, dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=60))
    stats: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    errors: list[logging.LogRecord] = field(default_factory=list)
    found: list[str] = field(default_factory=list)  # IMPACT_FUZZ_COLLECT=1: failures, kept going
    last: Snapshot | None = None  # the database after the last example

    def __repr__(self) -> str:
        return "Fuzz(...)"


class _Errors(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


async def build(world: World) -> Fuzz:
    lead = world.person("lead", "Sam Lead")
    alex = world.person("alex", "Alex Staff")
    bea = world.person("bea", "Bea Victim")
    admin = world.person("admin", "Ada Admin", aad_object_id=ADMIN_AAD)
    for person in (lead, alex, bea, admin):
        await person.install()
    await world.team(WARD, "Ward 7", [lead], [alex, bea])
    await world.schedule(WARD)
    world.clock.now = THURSDAY
    await world.services.steps.post_due(THURSDAY)
    spec = RoundSpec("Winter", (WARD,), THURSDAY, THURSDAY + timedelta(days=14), "3d")
    framework = default_framework()
    world.db.run_sync(lambda s: create_round(s, spec, framework=framework, actor="t", now=THURSDAY))
    await round_steps(world.ctx).opener.open_due(THURSDAY)
    await world.deliver()
    for person, answers in ((alex, 2), (bea, 3)):
        await person.say("start")
        for _ in range(answers):
            await person.press("Next", {"level": "3"})
    await admin.say("rounds")
    await lead.say("huddles")
    strangers = [
        Sender(f"stranger{n}", world.person(f"stranger{n}", f"Stranger {n}"), "personal")
        for n in range(3)
    ]
    group = world.person("group", "Gus Group")
    senders = [
        Sender("alex", alex, "personal"),
        Sender("alex", alex, "personal"),
        Sender("lead", lead, "personal"),
        Sender("lead@channel", lead.in_channel(WARD), "channel"),
        Sender("alex@channel", alex.in_channel(WARD), "channel"),
        Sender("admin", admin, "personal"),
        Sender("group", group, "groupChat"),
        *strangers,
    ]
    return Fuzz(world, alex, bea, senders)


# -- the database, before and after ---------------------------------------------------------

Snapshot = dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]
TABLES = [t for t in SQLModel.metadata.sorted_tables]
PERSON_COLUMNS: dict[str, list[str]] = {}
for _feature in FEATURES:
    for _declaration in _feature.personal_data:
        for _column in _declaration.columns:
            _table, _, _name = _column.partition(".")
            _ends = ("person_id", "owner_id", "_by", "person", "actor", "participant_id")
            if _name.endswith(_ends) or (_table == "people" and _name in ("id", "teams_user_id")):
                PERSON_COLUMNS.setdefault(_table, []).append(_name)
PERSON_COLUMNS.setdefault("answers", []).append("assessment_id")


def snapshot(db: Database) -> Snapshot:
    def read(session: Any) -> Snapshot:
        taken: Snapshot = {}
        for table in TABLES:
            keys = [c.name for c in table.primary_key.columns] or [c.name for c in table.columns]
            rows: dict[tuple[Any, ...], tuple[Any, ...]] = {}
            for row in session.execute(sa.select(table)):
                mapping = row._mapping
                rows[tuple(mapping[k] for k in keys)] = tuple(mapping.values())
            taken[table.name] = rows
        return taken

    return db.run_sync(read)


def _columns(table: str) -> list[str]:
    return [c.name for c in SQLModel.metadata.tables[table].columns]


def owners(snap: Snapshot, table: str, row: tuple[Any, ...]) -> set[str]:
    """Who a row is about: the people ids (and Teams ids) in its person columns."""
    names = _columns(table)
    found: set[str] = set()
    for column in PERSON_COLUMNS.get(table, []):
        value = row[names.index(column)]
        if value is None:
            continue
        if table == "answers" and column == "assessment_id":
            assessment = snap["assessments"].get((value,))
            if assessment is not None:
                found.add(str(assessment[_columns("assessments").index("person_id")]))
            continue
        if column == "participant_id":
            participant = snap["round_participants"].get((value,))
            if participant is not None:
                found.add(str(participant[_columns("round_participants").index("person_id")]))
            continue
        found.add(str(value))
    return found


def identities(snap: Snapshot, user: TeamsUser) -> set[str]:
    """A person's people.id, Teams id and Entra id, as rows may name them."""
    names = _columns("people")
    ids = {user.user_id, user.aad_object_id}
    for row in snap["people"].values():
        if row[names.index("teams_user_id")] == user.user_id:
            ids.add(str(row[names.index("id")]))
    return ids


def changes(before: Snapshot, after: Snapshot) -> Iterator[tuple[str, tuple[Any, ...]]]:
    for table, rows in after.items():
        old = before[table]
        for key in old.keys() | rows.keys():
            if old.get(key) != rows.get(key):
                yield table, key


def int_pool(snap: Snapshot) -> list[int]:
    found = {
        value
        for table in ("assessments", "rounds", "huddles", "huddle_schedules", "teams",
                      "huddle_items", "strategic_aims", "measurable_goals", "round_participants")
        for key in snap[table]
        for value in key
        if isinstance(value, int)
    }  # fmt: skip
    names = _columns("assessments")
    found |= {row[names.index("revision")] for row in snap["assessments"].values()}
    return sorted(found)


def text_pool(snap: Snapshot) -> list[str]:
    names = _columns("teams")
    teams = [str(row[names.index("team_id")]) for row in snap["teams"].values()]
    items = [str(key[0]) for key in snap["huddle_items"]]
    return teams + items + [f"idea:{i}" for i in items] + ["General", "19:nowhere@thread"]


def assessment_owner(snap: Snapshot, aid: Any) -> str | None:
    if not isinstance(aid, int | str) or not str(aid).isdigit():
        return None
    row = snap["assessments"].get((int(aid),))
    return None if row is None else str(row[_columns("assessments").index("person_id")])


# -- what one example sends -------------------------------------------------------------------


@dataclass
class Input:
    kind: str
    sender: Sender
    body: Any
    refused: bool  # the router or the SDK must refuse it: nothing may change
    reply_expected: bool


def _scoped(sender: Sender, activity: dict[str, Any]) -> dict[str, Any]:
    if sender.scope == "groupChat":
        activity["conversation"] = {
            "id": sender.user.conversation_id,
            "conversationType": "groupChat",
            "isGroup": True,
            "tenantId": sender.user.tenant_id,
        }
    return activity


def card_action(
    sender: Sender, data: dict[str, Any], card_id: str | None, via_submit: bool
) -> dict[str, Any]:
    user = sender.user
    if via_submit:
        return _scoped(sender, user.activity(type="message", value=data, replyToId=card_id))
    verb = data.pop("verb", None)
    action: dict[str, Any] = {"type": "Action.Execute", "data": data}
    if verb is not None:
        action["verb"] = verb
    return _scoped(
        sender,
        user.activity(
            type="invoke",
            name="adaptiveCard/action",
            replyToId=card_id,
            value={"action": action, "trigger": "manual"},
        ),
    )


def inputs_of(card: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input.") and node.get("id"):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


@dataclass(frozen=True)
class Plan:
    """One input, drawn without looking at the world; `Ref`s and `pick` choose from it later."""

    kind: str
    sender: int
    pick: int  # which button (of the chat's cards), replayed activity or card to answer
    via_submit: bool
    inputs: tuple[Any, ...] = ()  # per card input: None, a choice's index (int) or a string
    verb: fz.VerbSpec | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    breakage: fz.Breakage | None = None
    invoke_name: str = ""
    value: Any = None
    event: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    name: str | None = None  # the sender's display name as Teams sends it, if not their own


PICK = st.integers(0, 10_000)
EVENTS = (
    "conversationUpdate", "installationUpdate", "messageReaction", "event", "typing",
    "endOfConversation", "messageUpdate", "messageDelete", "contactRelationUpdate", "trace",
    "handoff", "command", "unknownType",
)  # fmt: skip


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    kind = draw(st.sampled_from(KINDS))
    base = {
        "kind": kind,
        "sender": draw(PICK),
        "pick": draw(PICK),
        "via_submit": draw(st.booleans()),
        # Entra display names are at most 256 characters; anything may be in them.
        "name": draw(st.one_of(st.none(), st.none(), st.none(), fz.names())),
    }
    if kind == "press":
        inputs = draw(
            st.lists(st.one_of(st.none(), PICK, PICK, PICK, fz.strings()), min_size=6, max_size=6)
        )
        spec = draw(st.sampled_from(fz.VERBS))
        return Plan(**base, inputs=tuple(inputs), verb=spec, payload=draw(fz.verb_data(spec)))
    if kind in ("verb", "broken"):
        spec = draw(st.sampled_from(fz.VERBS))
        plan = Plan(
            **base, verb=spec, payload=draw(fz.verb_data(spec)), text=draw(fz.text_messages())
        )
        if kind == "broken":
            return Plan(**{**plan.__dict__, "breakage": draw(fz.breakages())})
        return plan
    if kind == "text":
        return Plan(**base, text=draw(fz.text_messages()))
    if kind == "invoke":
        return Plan(**base, invoke_name=draw(fz.invoke_names()), value=draw(fz.json_values()))
    if kind == "event":
        extra: dict[str, Any] = {}
        event = draw(st.sampled_from(EVENTS))
        if event == "conversationUpdate":
            extra["membersAdded"] = draw(
                st.sampled_from([[{"id": "28:impact-bot"}], [{"id": "29:someone"}], [], [{}]])
            )
        if event == "installationUpdate":
            extra["action"] = draw(st.sampled_from(["add", "remove", "add-upgrade", "x"]))
        return Plan(**base, event=event, extra=extra)
    return Plan(**base)  # replay


def interpret(plan: Plan, fuzz: Fuzz, snap: Snapshot) -> Input:
    item = _interpret(plan, fuzz, snap)
    sender = item.body.get("from") if isinstance(item.body, dict) else None
    if plan.name is not None and item.kind != "replay" and isinstance(sender, dict):
        item.body["from"] = {**sender, "name": plan.name}
    return item


def _interpret(plan: Plan, fuzz: Fuzz, snap: Snapshot) -> Input:
    sender = fuzz.senders[plan.sender % len(fuzz.senders)]
    if plan.kind == "replay" and fuzz.sent:
        sender, body = list(fuzz.sent)[plan.pick % len(fuzz.sent)]
        return Input("replay", sender, copy.deepcopy(body), False, False)
    if plan.kind == "press":
        found = press_input(plan, fuzz, sender)
        if found is not None:
            return found
    if plan.kind == "broken":
        base = text_input(plan, sender) if plan.pick % 2 else verb_input(plan, fuzz, sender, snap)
        assert plan.breakage is not None
        body, keeps_identity = plan.breakage.apply(base.body)
        return Input("broken", sender, body, base.refused or not keeps_identity, False)
    if plan.kind == "invoke":
        body = _scoped(
            sender, sender.user.activity(type="invoke", name=plan.invoke_name, value=plan.value)
        )
        return Input("invoke", sender, body, True, plan.invoke_name == "adaptiveCard/action")
    if plan.kind == "event":
        body = _scoped(sender, sender.user.activity(type=plan.event, **plan.extra))
        return Input("event", sender, body, False, False)
    if plan.kind in ("text", "replay"):
        return text_input(plan, sender)
    return verb_input(plan, fuzz, sender, snap)


def press_input(plan: Plan, fuzz: Fuzz, sender: Sender) -> Input | None:
    """A button of a card in the sender's chat (old cards too), its inputs filled in."""
    presses = [
        (aid, action, card)
        for aid, activity in fuzz.world.connector.shown(sender.user.conversation_id)
        if (card := card_of(activity)) is not None
        for action in _every_action(card)
        if action.get("type") in ("Action.Execute", "Action.Submit")
    ][-40:]
    if not presses:
        return None
    card_id, action, card = presses[plan.pick % len(presses)]
    values: dict[str, Any] = {}
    if action.get("associatedInputs", "auto") != "none":
        for element, drawn in zip(inputs_of(card), plan.inputs, strict=False):
            choices = [c.get("value") for c in element.get("choices") or []]
            if isinstance(drawn, int):
                drawn = choices[drawn % len(choices)] if choices else str(drawn)
            if drawn is not None:
                values[str(element["id"])] = drawn
    chosen = action.get("fallback", action) if plan.via_submit else action
    payload = dict(chosen.get("data") or {})
    payload.update(values)
    if not plan.via_submit and "verb" in action:
        payload["verb"] = action["verb"]
    body = card_action(sender, payload, card_id, plan.via_submit)
    return Input("press", sender, body, False, True)


def _every_action(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button, those inside Action.ShowCard forms too."""
    found: list[dict[str, Any]] = []
    for action in all_actions(card):
        found.append(action)
        if action.get("type") == "Action.ShowCard" and isinstance(action.get("card"), dict):
            found.extend(_every_action(action["card"]))
    return found


def verb_input(plan: Plan, fuzz: Fuzz, sender: Sender, snap: Snapshot) -> Input:
    """Card data for one of every registered verb, with ids from the world (own, others',
    unknown) and the mistakes the strategy put in."""
    payload = fz.resolve(plan.payload, int_pool(snap), text_pool(snap))
    shown = [None, "f:nowhere"] + [
        aid for aid, _ in fuzz.world.connector.shown(sender.user.conversation_id)[-5:]
    ]
    card_id = shown[plan.pick % len(shown)]
    parsed = fz.parses(payload)
    refused = parsed is None or sender.scope not in fz.spec_of(parsed).scopes
    if parsed is not None and "aid" in type(parsed).model_fields:
        owner = assessment_owner(snap, getattr(parsed, "aid", None))
        refused = refused or owner is None or owner not in identities(snap, sender.user)
    body = card_action(sender, copy.deepcopy(payload), card_id, plan.via_submit)
    return Input("verb", sender, body, refused, True)


def text_input(plan: Plan, sender: Sender) -> Input:
    body = _scoped(sender, sender.user.activity(type="message", text=plan.text))
    return Input("text", sender, body, False, True)


# -- sending, as Teams would ------------------------------------------------------------------


async def post(fuzz: Fuzz, item: Input) -> tuple[int, Any]:
    user = item.sender.user
    assert user.session is not None
    payload = json.dumps(item.body)
    async with user.session.post(
        f"{user.bot_url}/api/messages",
        data=payload,
        headers={"Content-Type": "application/json"},
    ) as response:
        text = await response.text()
        body = json.loads(text) if response.content_type == "application/json" and text else text
        status = response.status
    # Teams shows an Action.Execute answer in place of the card that was pressed.
    if (
        status == 200
        and isinstance(body, dict)
        and body.get("type") == CARD
        and isinstance(item.body, dict)
        and item.body.get("type") == "invoke"
    ):
        card_id = item.body.get("replyToId")
        conversation = fuzz.world.connector.conversations.get(user.conversation_id)
        if isinstance(card_id, str) and conversation and card_id in conversation.activities:
            fuzz.world.connector.replace_shown(
                user.conversation_id,
                card_id,
                {
                    "type": "message",
                    "attachments": [{"contentType": CARD, "content": body["value"]}],
                },
            )
    return status, body


def describe(item: Input) -> str:
    text = json.dumps(item.body, ensure_ascii=True)
    return f"[{item.kind} from {item.sender.key}] {text[:1500]}"


# -- the properties -------------------------------------------------------------------------


def check_status(item: Input, status: int, body: Any, fuzz: Fuzz, calls_from: int) -> None:
    assert status < 500, f"{status} {body} for {describe(item)}"
    errors = [r.getMessage()[:300] for r in fuzz.errors]
    assert not errors, f"the turn failed: {errors} for {describe(item)}"
    apologies = [
        call
        for call in fuzz.world.connector.calls[calls_from:]
        if APOLOGY in json.dumps(call.body, ensure_ascii=False)
    ]
    assert not apologies, f"the bot apologised for {describe(item)}"


def everyone(snap: Snapshot) -> set[str]:
    """Every person's people.id, Teams id and Entra id."""
    names = _columns("people")
    return {
        str(row[names.index(column)])
        for row in snap["people"].values()
        for column in ("id", "teams_user_id", "aad_object_id")
        if row[names.index(column)] is not None
    }


def check_state(item: Input, before: Snapshot, after: Snapshot, fuzz: Fuzz) -> None:
    sender = identities(after, item.sender.user) | identities(before, item.sender.user)
    people = everyone(before) | everyone(after)
    for table, key in changes(before, after):
        row = after[table].get(key) or before[table][key]
        old = before[table].get(key)
        about = owners(after, table, row) | (owners(before, table, old) if old else set())
        about &= people
        if item.refused:
            assert table in BOOKKEEPING, (
                f"refused input changed {table} {key}: {old} -> {after[table].get(key)} "
                f"for {describe(item)}"
            )
            assert about & sender, (
                f"refused input changed {table} {key}: {old} -> {after[table].get(key)} "
                f"for {describe(item)}"
            )
        assert not about or about & sender, (
            f"{item.sender.key} changed someone else's row in {table} {key}: "
            f"{old} -> {after[table].get(key)} for {describe(item)}"
        )


def check_reply(item: Input, status: int, body: Any, fuzz: Fuzz, calls_from: int) -> None:
    if not item.reply_expected or not isinstance(item.body, dict):
        return
    if 400 <= status < 500:  # a JSON problem, or aiohttp's own words (413: the size allowed)
        assert body, f"{status} without a reason for {describe(item)}"
        assert not isinstance(body, dict) or body.get("error"), f"{status}: {body!r}"
        return
    if item.body.get("type") == "invoke":
        assert status == 200, f"{status} {body} for {describe(item)}"
        assert isinstance(body, dict), f"{status} {body} for {describe(item)}"
        assert body.get("type") in (CARD, MESSAGE), f"{body} for {describe(item)}"
        assert body.get("value"), f"no card or message in the answer {body} to {describe(item)}"
        return
    conversation = item.sender.user.conversation_id
    answered = [
        call
        for call in fuzz.world.connector.calls[calls_from:]
        if call.conversation_id == conversation and call.status < 300
    ]
    assert answered, f"no reply to {describe(item)}"


def check_live_card(item: Input, fuzz: Fuzz, after: Snapshot) -> None:
    """Alex, mid-assessment, has a card with live buttons: the one the database holds."""
    assessments, live = after["assessments"], after["live_cards"]
    names = _columns("assessments")
    alex = identities(after, fuzz.alex)
    in_progress = [
        row
        for row in assessments.values()
        if str(row[names.index("person_id")]) in alex
        and row[names.index("status")] == "in_progress"
    ]
    if not in_progress:
        return
    rows = [row for key, row in live.items() if str(key[0]) in alex]
    assert rows, "Alex is mid-assessment with no live card"
    activity_id = rows[0][_columns("live_cards").index("activity_id")]
    shown = fuzz.world.connector.activity(fuzz.alex.conversation_id, activity_id)
    card = card_of(shown) or {}
    titles = {a.get("title") for a in all_actions(card)}
    assert titles & {"Next", "Submit my answers", "Submit anyway"}, (
        f"Alex's live card {activity_id} has no live buttons: {sorted(map(str, titles))} "
        f"{json.dumps(card)[:400]} after {describe(item)}"
    )


# -- the test -------------------------------------------------------------------------------


@pytest.fixture
async def fuzz(world: World, capsys: pytest.CaptureFixture[str], database_url: str) -> Any:
    state = await build(world)
    handler = _Errors(state.errors)
    logging.getLogger().addHandler(handler)
    try:
        yield state
    finally:
        logging.getLogger().removeHandler(handler)
        seconds = time.monotonic() - state.started
        backend = database_url.partition(":")[0]
        with capsys.disabled():
            print(
                f"\nfuzz {backend}: {state.stats['examples']} examples "
                f"({state.stats['activities']} activities) in {seconds:.1f} s, "
                f"failures {state.stats['failures']}; kinds {dict(sorted(state.stats.items()))}; "
                f"statuses {dict(sorted(state.statuses.items()))}"
            )
            for failure in state.found:
                print(f"FAILURE {failure[:3000]}")
        assert not state.found, f"{len(state.found)} inputs broke a property (printed above)"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=list(HealthCheck),
)
@given(plan=plans())
async def test_no_input_breaks_the_service_or_anyone_elses_data(fuzz: Fuzz, plan: Plan) -> None:
    fuzz.stats["examples"] += 1
    # Nothing runs between examples (no scheduler, no sender): the last one's after is before.
    before, fuzz.last = fuzz.last or snapshot(fuzz.world.db), None
    item = interpret(plan, fuzz, before)
    fuzz.stats[item.kind] += 1
    fuzz.errors.clear()
    calls_from = len(fuzz.world.connector.calls)
    try:
        status, body = await post(fuzz, item)
        fuzz.stats["activities"] += 1
        fuzz.statuses[status] += 1
        after = fuzz.last = snapshot(fuzz.world.db)
        check_status(item, status, body, fuzz, calls_from)
        check_state(item, before, after, fuzz)
        check_reply(item, status, body, fuzz, calls_from)
        check_live_card(item, fuzz, after)
    except AssertionError as failure:
        fuzz.stats["failures"] += 1
        if not COLLECT:
            raise
        fuzz.found.append(str(failure))
    if isinstance(item.body, dict) and item.kind != "replay":
        fuzz.sent.append((item.sender, item.body))
