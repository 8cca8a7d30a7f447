"""Crash recovery with two real sender processes on PostgreSQL.

Two sender processes (`--once-until-empty`) drain 500 first-contact invitations
(create the 1:1 chat, then send) into the fake connector, which runs here with Teams' limits
(times 10, each process taking half). Halfway through, one of them is killed with SIGKILL; the
other takes over its rows when their leases run out and finishes. Every person must get exactly
one invitation, and no limit may be exceeded.

The kill point is chosen so that the outcome is deterministic. The one window in which a crash
can duplicate a message is "Teams accepted it, the sender has not yet recorded that"
(bot/sender.py explains why it cannot be closed). So the fake connector first holds every new
request unanswered; the test waits until every message it accepted is recorded as sent in the
database and the processes have requests held; then it kills one. The victim's held requests
die with it unprocessed (as if they never reached Teams), so its rows are sent once, by the
other process. What this leaves untested is the window itself: a kill in it (the response's
way back and one commit, about 15 ms at p50 in this setting) makes those people's invitations
arrive twice; killed at random moments instead, 1 to 7 of the 500 did (bot/sender.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest
from sqlmodel import Session, func, select

from store import outbox
from store.db import Database
from store.outbox import OutboxMessage, Target
from store.people import Person
from store.schema import upgrade
from tests.fakes.connector import FakeConnector, TeamsLimits
from tests.paths import REPO
from tests.waiting import until

pytestmark = pytest.mark.service

PEOPLE = 500
SCALE = 10
TENANT = "tenant-nhs-trust"
# The real clock, as the sender processes': a date in the past would put every row beyond its
# retry budget (24 h from when it was queued), and one transient failure would fail it for good.
NOW = datetime.now(UTC)


def sender_process(url: str, owner: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMPACT_", "Microsoft"))}
    env.update(PYTHONPATH=str(REPO), IMPACT_LOG_LEVEL="WARNING", DATABASE_URL=url)
    return subprocess.Popen(
        [
            sys.executable, "-m", "impact.main", "outbox", "send", "--once-until-empty",
            "--owner", owner, "--scale", str(SCALE), "--rate-share", "0.5",
            "--lease-seconds", "6", "--request-timeout", "3", "--lease-margin", "0.5",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def sent_rows(db: Database) -> int:
    return db.run_sync(
        lambda s: s.exec(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")
        ).one()
    )


async def test_a_killed_sender_loses_nothing_and_duplicates_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    db = Database(postgres_url)
    upgrade(db.engine)
    fake = FakeConnector(limits=TeamsLimits().scaled(SCALE))
    await fake.start()
    users = [f"29:person-{n}" for n in range(PEOPLE)]

    def seed(session: Session) -> None:
        for user in users:
            person = Person(tenant_id=TENANT, teams_user_id=user, created_at=NOW, updated_at=NOW)
            session.add(person)
            session.flush()
            outbox.enqueue(
                session, dedupe_key=f"round:1:invite:{user}", kind="invitation", tenant_id=TENANT,
                target=Target.person(
                    user_id=user, tenant_id=TENANT, service_url=fake.url, bot_id="28:bot"
                ),
                activity={"type": "message", "text": f"invitation for {user}"}, now=NOW,
                person_id=person.id,
            )  # fmt: skip

    db.run_sync(seed)
    logs = {name: (tmp_path / f"sender-{name}.log").open("wb") for name in ("A", "B")}
    victim = sender_process(postgres_url, "A", logs["A"])
    survivor = sender_process(postgres_url, "B", logs["B"])
    try:
        await fake.wait_for(lambda: fake.accepted("send") >= PEOPLE * 2 // 5, within_s=90)
        # Choose the kill point: nothing accepted-but-unrecorded, requests held at Teams.
        fake.hold()
        await until(lambda: sent_rows(db) == fake.accepted("send"), 15, "outcomes recorded")
        await until(lambda: fake.held >= 2, 15, "requests held by the fake connector")
        before_kill = fake.accepted("send")
        assert 0 < before_kill < PEOPLE
        leased_by_victim = db.run_sync(
            lambda s: set(
                s.exec(
                    select(OutboxMessage.id).where(
                        OutboxMessage.lease_owner == "A", OutboxMessage.status == "pending"
                    )
                ).all()
            )
        )
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=10) == -signal.SIGKILL
        # Give the fake connector a moment to notice the victim's connections closing.
        with contextlib.suppress(AssertionError):
            await until(lambda: fake.held_disconnected > 0, 3, "closed connections")
        fake.release()

        await until(lambda: survivor.poll() is not None, 120, "the survivor to finish")
        assert survivor.returncode == 0, (tmp_path / "sender-B.log").read_text()
    finally:
        for process in (victim, survivor):
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in logs.values():
            log.close()
        await fake.stop()

    rows = db.run_sync(lambda s: s.exec(select(OutboxMessage)).all())
    db.dispose()
    assert {row.status for row in rows} == {"sent"}
    received = fake.received()
    per_person = {user: received[fake.personal_chat(TENANT, user) or "none"] for user in users}
    assert [u for u, n in per_person.items() if n == 0] == []  # nobody lost
    assert [u for u, n in per_person.items() if n > 1] == []  # nobody twice
    assert sum(received.values()) == PEOPLE
    assert fake.violations == []  # the two halves of the limits never added up to more
    # The survivor finished what the victim had leased when it died.
    assert leased_by_victim
    assert {row.lease_owner for row in rows if row.id in leased_by_victim} == {"B"}
    assert fake.dropped  # it died with requests in flight, which never took effect
