"""A whole round through the running service, as `impact-bot serve` runs it: the scheduler (on
the leader) opens the round the CLI created, the outbox sender delivers the invitations to
Teams (creating 1:1 chats), a person answers from the invitation, `rounds close` closes it and
the summary reaches the team channel. SQLite and PostgreSQL; waits are on the fake connector's
events, bounded."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from bot.config import Settings
from framework.content import default_framework
from impact.service import CONTEXT_KEY, create_app
from store.db import Database
from store.rounds.lifecycle import RoundSpec, create_round, request_close
from store.types import utcnow
from tests.conftest import serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser, card_of, card_text
from tests.rounds.services.test_opening import member
from tests.store.test_process_reads import process_id

pytestmark = pytest.mark.service

WARD = "19:ward7@thread.tacv2"


def cards_in(connector: FakeConnector, conversation_id: str | None) -> list[dict[str, Any]]:
    if conversation_id is None:
        return []
    return [c for _i, a in connector.shown(conversation_id) if (c := card_of(a))]


@pytest.mark.parametrize("sender_process", [False, True], ids=["sender-inline", "sender-process"])
async def test_round_from_opening_to_summary_through_the_running_service(
    db: Database,
    settings_factory: Callable[..., Settings],
    connector: FakeConnector,
    http: Any,
    sender_process: bool,
) -> None:
    settings = settings_factory(
        reconcile_seconds=0.5,
        public_url="https://impact.example.nhs.uk",
        sender_process=sender_process,
    )
    app = create_app(settings, db=db, background=True)
    runner, url = await serve(app)
    try:
        lead = TeamsUser(bot_url=url, connector=connector, session=http, name="Sam Lead")
        await lead.add_bot_to_team(WARD, "Ward 7")
        tenant = lead.tenant_id
        connector.conversations[WARD].members = [member(n, tenant) for n in range(6)]
        now = utcnow()
        spec = RoundSpec("Spring 2027", (WARD,), now, now + timedelta(days=7), "3d")
        framework = default_framework()
        round_id = db.run_sync(
            lambda s: create_round(s, spec, framework=framework, actor="cli:test", now=now).id
        )

        def invited() -> bool:
            return all(
                any(
                    "Spring 2027" in card_text(c)
                    for c in cards_in(connector, connector.personal_chat(tenant, f"29:staff-{n}"))
                )
                for n in range(6)
            )

        await connector.wait_for(invited, within_s=30)
        chat = connector.personal_chat(tenant, "29:staff-3")
        assert chat is not None
        staff = TeamsUser(
            bot_url=url, connector=connector, session=http, user_id="29:staff-3",
            name="Staff 3", conversation_id=chat,
        )  # fmt: skip
        staff.tenant_id = tenant
        invitation_id = next(
            aid for aid, a in connector.shown(chat) if "Spring 2027" in card_text(card_of(a) or {})
        )
        await staff.press("Start", card_id=invitation_id)
        assert "Question 1 of 22" in card_text(staff.last_card()[1])

        db.run_sync(lambda s: request_close(s, round_id, actor="cli:test", now=utcnow()))

        def summarised() -> bool:
            return any("Spring 2027" in card_text(c) for c in cards_in(connector, WARD))

        await connector.wait_for(summarised, within_s=30)
        [summary] = [c for c in cards_in(connector, WARD) if "Spring 2027" in card_text(c)]
        assert "0 of 6" in card_text(summary)
        assert "Not enough responses to show results" in card_text(summary)
    finally:
        await runner.cleanup()


async def test_the_running_service_starts_its_worker_process_at_startup(
    db: Database, settings_factory: Callable[..., Settings]
) -> None:
    """Before any round needs it: its start (the fork server's imports, a second or more of
    CPU) is paid before anyone is answering, not during a round's opening."""
    app = create_app(settings_factory(reconcile_seconds=60), db=db, background=True)
    reads = app[CONTEXT_KEY].process_reads
    if reads is None:
        pytest.skip("an in-memory database has no worker process")
    runner, _url = await serve(app)
    try:
        for _ in range(100):
            if reads.started:
                break
            await asyncio.sleep(0.1)
        assert reads.started, "started with the service"
        assert await reads.read(process_id) != os.getpid()
    finally:
        await runner.cleanup()
