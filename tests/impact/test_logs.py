"""No personal data at INFO and above: a whole round through the running service (install,
roster, invitations, two people answering all 22 questions with a comment on each, submitting,
the close and the summary) with logging at INFO, and the output searched for every name and
comment used. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from bot.config import Settings
from framework.content import default_framework
from impact.service import create_app
from store.db import Database
from store.rounds.lifecycle import RoundSpec, create_round, request_close
from store.types import utcnow
from tests.bot.dialogs.assessment_chat import QUESTIONS, question_number
from tests.conftest import serve
from tests.fakes.connector import FakeConnector
from tests.fakes.teams_client import TeamsUser, card_of, card_text

pytestmark = pytest.mark.service

WARD = "19:ward-logs@thread.tacv2"
LEAD = "Barnaby Oddsockington"
STAFF = ("Zephyrine Quillfeather", "Ottoline Marchbanks", "Peregrine Fennimore")


def comment(person: int, question: int) -> str:
    return f"marmalade{person}x{question} my ward is short of staff"


def roster(tenant: str) -> list[dict[str, Any]]:
    return [
        {"id": f"29:logs-{n}", "name": name, "aadObjectId": f"00000000-0000-4000-8000-{n:012d}",
         "tenantId": tenant, "userRole": "user"}
        for n, name in enumerate(STAFF)
    ]  # fmt: skip


async def test_a_whole_round_logs_no_names_comments_or_card_contents_at_info(
    db: Database,
    settings_factory: Callable[..., Settings],
    connector: FakeConnector,
    http: Any,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    settings = settings_factory(
        reconcile_seconds=0.5, min_group_size=2, min_comment_group_size=2, log_level="INFO"
    )
    caplog.set_level(logging.INFO)
    app = create_app(settings, db=db, background=True)
    runner, url = await serve(app)
    try:
        lead = TeamsUser(bot_url=url, connector=connector, session=http, name=LEAD)
        await lead.add_bot_to_team(WARD, "Ward for logs")
        tenant = lead.tenant_id
        connector.conversations[WARD].members = roster(tenant)
        now = utcnow()
        spec = RoundSpec("Logs round", (WARD,), now, now + timedelta(days=7), "3d")
        framework = default_framework()
        round_id = db.run_sync(
            lambda s: create_round(s, spec, framework=framework, actor="cli:test", now=now).id
        )

        def invited() -> bool:
            return all(connector.personal_chat(tenant, f"29:logs-{n}") for n in range(2))

        await connector.wait_for(invited, within_s=30)
        for n in range(2):
            chat = connector.personal_chat(tenant, f"29:logs-{n}")
            assert chat is not None
            await connector.wait_for(
                lambda chat=chat: any(card_of(a) for _i, a in connector.shown(chat)), within_s=30
            )
            person = TeamsUser(
                bot_url=url, connector=connector, session=http, user_id=f"29:logs-{n}",
                name=STAFF[n], conversation_id=chat, tenant_id=tenant,
                aad_object_id=f"00000000-0000-4000-8000-{n:012d}",
            )  # fmt: skip
            invitation = next(aid for aid, a in connector.shown(chat) if card_of(a))
            await person.press("Start", card_id=invitation)
            for question in range(1, QUESTIONS + 1):
                assert question_number(person.last_card()[1]) == question
                level = 1 + (question + n) % 5
                await person.press("Next", {"level": str(level), "comment": comment(n, question)})
            await person.press("Submit my answers")
        db.run_sync(lambda s: request_close(s, round_id, actor="cli:test", now=utcnow()))

        def summarised() -> bool:
            return any(
                "Logs round" in card_text(c)
                for _i, a in connector.shown(WARD)
                if (c := card_of(a)) is not None
            )

        await connector.wait_for(summarised, within_s=30)
        summary = next(
            card_text(c)
            for _i, a in connector.shown(WARD)
            if (c := card_of(a)) is not None and "Logs round" in card_text(c)
        )
        assert "2 of 3" in summary, summary
    finally:
        await runner.cleanup()
    output = caplog.text + "".join(capfd.readouterr())
    assert "turn " in output, "nothing was logged at INFO: the search below would prove nothing"
    for name in (LEAD, *STAFF):
        for part in name.split():
            assert part not in output, f"a display name is logged: {part}"
    for n in range(2):
        for question in range(1, QUESTIONS + 1):
            assert f"marmalade{n}x{question}" not in output, "a comment is logged"
    assert "short of staff" not in output
    assert "Question 1 of 22" not in output, "card contents are logged"
    assert "[parameters:" not in output, "SQL parameters are logged"
