"""Erasure takes a person's own messages and the messages that name them by structure (their
ids, an item they own), never by their display name as a substring: the name is whatever they
call themselves in Teams, so "a", or a common word, is inside other people's messages. On
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from store import outbox
from store.db import Database
from store.huddles.tables import HuddleItem
from store.outbox import OutboxMessage
from store.people import Person
from tests.store.privacy.test_rights import erase
from tests.store.privacy.world import NIA, NOW, SAM, SERVICE, TENANT, WARD, World, build

pytestmark = pytest.mark.service

TO_SAM = outbox.Target.person(
    user_id=SAM.teams_user_id, tenant_id=TENANT, service_url=SERVICE, bot_id="28:bot"
)
TO_NIA = outbox.Target.person(
    user_id=NIA.teams_user_id, tenant_id=TENANT, service_url=SERVICE, bot_id="28:bot"
)
TO_WARD = outbox.Target.conversation(WARD, SERVICE)


def _card(*lines: str, **extra: Any) -> dict[str, Any]:
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": line} for line in lines]
    return {"type": "message", "attachments": [{"content": {"body": body, **extra}}]}


def _mentioning(who: Any) -> dict[str, Any]:
    tag = f"<at>{who.name}</at>"
    return {
        "type": "message",
        "text": f"Ward 7 huddle, led by {tag}. Start at 8:30, a quick one.",
        "entities": [{"type": "mention", "text": tag,
                      "mentioned": {"id": who.teams_user_id, "name": who.name}}],
    }  # fmt: skip


def _queue(db: Database, world: World) -> None:
    """Sam's own messages, a channel message naming only Sam, Nia's own, and channel cards
    that name Nia by her id or show an item she owns."""

    def work(session: Session) -> None:
        item = session.exec(select(HuddleItem).where(col(HuddleItem.owner_id) == world.nia)).one()
        ref = f"{item.kind}:{item.id}:{item.revision}"
        queued = [
            ("round:9:invite:person:sam", TO_SAM, _card("Start the assessment"), world.sam),
            ("round:9:nudge:person:sam:1", TO_SAM, _card("A reminder: start it today"), world.sam),
            ("huddle:prompt:sam-leads", TO_WARD, _mentioning(SAM), None),
            ("huddle:digest:ward", TO_WARD, _card("Ward 7: your huddles", "a tea rota"), None),
            (f"round:9:nudge:person:{world.nia}:1", TO_NIA, _card("A reminder"), world.nia),
            ("huddle:prompt:nia-leads", TO_WARD, _mentioning(NIA), None),
            ("huddle:prompt:items", TO_WARD, _card(f"Fix the rota\n{NIA.name} · due Mon 9 Nov",
                choices=[{"title": "Action: Fix the rota", "value": ref}]), None),
        ]  # fmt: skip
        for key, target, activity, person in queued:
            outbox.enqueue(session, dedupe_key=key, kind="notice", tenant_id=TENANT,
                           target=target, activity=activity, now=NOW, person_id=person)  # fmt: skip

    db.run_sync(work)


def _messages(db: Database) -> dict[str, tuple[str, str]]:
    rows = db.run_sync(lambda s: s.exec(select(OutboxMessage)).all())
    return {m.dedupe_key: (m.status, m.payload) for m in rows}


@pytest.mark.parametrize("name", ["a", "Start", "Ward 7", "huddle", "Sam Samuels-Lead"])
def test_erasing_someone_changes_no_one_elses_messages_whatever_their_name(
    db: Database, name: str
) -> None:
    """Nia's name as Teams last sent it is "a" (or a word in other people's messages, or
    even Sam's name): erasing her cancelled Sam's invitation, which never names her. Now her
    own messages go, messages naming her by id or showing her item are cancelled, and every
    other message is as it was."""
    world = build(db)
    _queue(db, world)
    db.run_sync(
        lambda s: s.execute(sa.update(Person).where(col(Person.id) == world.nia).values(name=name))
    )
    before = _messages(db)
    erase(db, NIA.teams_user_id)
    after = _messages(db)
    naming_her = {"huddle:prompt:nia-leads", "huddle:prompt:items", "huddle:prompt:sent",
                  "huddle:prompt:pending", "huddle:prompt:roster"}  # fmt: skip
    hers = {f"round:9:nudge:person:{world.nia}:1",
            f"round:{world.round_id}:invite:person:{world.nia}"}  # fmt: skip
    assert hers < set(before)
    assert set(after) == set(before) - hers
    for key in naming_her:
        status = "sent" if before[key][0] == "sent" else "cancelled"
        assert after[key] == (status, "{}"), key
    others = set(after) - naming_her
    assert others >= {"round:9:invite:person:sam", "huddle:prompt:sam-leads"}
    assert {key: after[key] for key in others} == {key: before[key] for key in others}
    assert json.loads(after["round:9:invite:person:sam"][1])["activity"] == _card(
        "Start the assessment"
    )
