"""SIGTERM in the middle of a fan-out (issue 11 §3), with real `impact-bot serve` processes on
PostgreSQL and the fake connector standing in for Teams.

Fault: the leader, sending 60 first-contact invitations, is sent SIGTERM while Teams holds its
requests; Teams then answers them.
Outcome: it finishes the requests in flight and records them, gives back what it had not
started, releases the leader lock and exits cleanly; the next process leads at once and
finishes the rest; everyone gets one invitation, nobody two.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import psycopg
import pytest
from sqlmodel import Session, select

from scheduler.leader import LEADER_LOCK_KEY
from store import outbox
from store.db import Database
from store.outbox import OutboxMessage, Target
from store.people import Person
from store.schema import upgrade
from tests.fakes.connector import FakeConnector
from tests.paths import REPO
from tests.waiting import until

pytestmark = pytest.mark.service

PEOPLE = 60
TENANT = "tenant-shutdown"
# The real clock, as the sender processes': a date in the past would put every row beyond its
# retry budget (24 h from when it was queued), and one transient failure would fail it for good.
NOW = datetime.now(UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(url: str, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMPACT_", "Microsoft"))}
    env.update(
        PYTHONPATH=str(REPO),
        IMPACT_LOG_LEVEL="INFO",
        IMPACT_LOG_FORMAT="text",
        DATABASE_URL=url,
        PORT=str(free_port()),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "impact.main", "serve", "--local"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def leader_pid(url: str) -> int | None:
    with psycopg.connect(url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objid::bigint = %s AND database = (SELECT oid FROM pg_database"
            " WHERE datname = current_database())",
            (LEADER_LOCK_KEY,),
        ).fetchone()
    return None if row is None else int(row[0])


async def test_sigterm_mid_fan_out_finishes_in_flight_and_hands_over(
    postgres_url: str, tmp_path: Path
) -> None:
    db = Database(postgres_url)
    upgrade(db.engine)
    fake = FakeConnector()
    await fake.start()
    users = [f"29:person-{n}" for n in range(PEOPLE)]

    def seed(session: Session) -> None:
        for user in users:
            person = Person(tenant_id=TENANT, teams_user_id=user, created_at=NOW, updated_at=NOW)
            session.add(person)
            session.flush()
            outbox.enqueue(
                session,
                dedupe_key=f"round:1:invite:{user}",
                kind="invitation",
                tenant_id=TENANT,
                target=Target.person(
                    user_id=user, tenant_id=TENANT, service_url=fake.url, bot_id="28:bot"
                ),
                activity={"type": "message", "text": f"invitation for {user}"},
                now=NOW,
                person_id=person.id,
            )

    db.run_sync(seed)
    logs = {name: (tmp_path / f"serve-{name}.log").open("wb") for name in ("A", "B")}
    first = second = None
    try:
        fake.hold()
        first = serve(postgres_url, logs["A"])
        await until(lambda: fake.held >= 8, 60, "the first process's requests held at Teams")
        await until(lambda: leader_pid(postgres_url) is not None, 20, "a leader")
        in_flight = fake.held
        first.send_signal(signal.SIGTERM)
        await asyncio.sleep(1.0)  # it stops claiming; its requests are still held
        fake.release()
        await until(lambda: first.poll() is not None, 60, "the first process to exit")
        log_a = (tmp_path / "serve-A.log").read_text()
        assert first.returncode == 0, log_a
        assert "background work stopped" in log_a
        assert "outbox sender process" in log_a  # the sender ran in its own process,
        assert "stopped (exit code 0)" in log_a  # which finished and exited when told to
        assert "did not stop" not in log_a

        # In flight: answered by Teams and recorded, or given back; nothing left leased.
        rows = db.run_sync(lambda s: s.exec(select(OutboxMessage)).all())
        leased = [row.id for row in rows if row.status == "pending" and row.lease_owner]
        assert leased == []
        sent_by_first = sum(1 for row in rows if row.status == "sent")
        assert fake.accepted("send") == sent_by_first
        assert fake.accepted("create") >= in_flight  # the held requests were answered
        assert sent_by_first < PEOPLE  # it stopped in the middle
        assert leader_pid(postgres_url) is None  # the lock went with it

        second = serve(postgres_url, logs["B"])
        await until(lambda: leader_pid(postgres_url) is not None, 20, "the next leader")

        def all_sent() -> bool:
            found = db.run_sync(lambda s: s.exec(select(OutboxMessage.status)).all())
            return set(found) == {"sent"}

        await until(all_sent, 60, "the next process to finish the fan-out")
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for log in logs.values():
            log.close()
        await fake.stop()
        db.dispose()

    received = fake.received()
    per_person = {user: received[fake.personal_chat(TENANT, user) or "none"] for user in users}
    assert [u for u, n in per_person.items() if n != 1] == []
    assert fake.duplicates() == 0
