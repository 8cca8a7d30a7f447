"""The nudge tick's write of a 200-person batch (store.rounds.steps.record_nudges: who still has
the time the decision was made from, their nudges queued, their counters and next times) while
another thread wants the GIL all the time, as the service's event loop does while the sender
process asks its budget at Teams' limits. On SQLite every row a statement steps through, and
every row of an executemany, is a GIL hand-off of the writer thread, each a wait of up to the
switch interval (1 ms, as bot.process_tuning sets it), with the write lock held: a person's
answer waits for the whole write. Prints the batches' wall times on a file SQLite database, or
on a throwaway PostgreSQL database (`--database-url`, batches of 1,000 as the service's).

    .venv/bin/python benchmarks/nudge_record_contention.py [LABEL] [--database-url URL]
        [--batch N]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make framework/ and store/ importable
    sys.path.insert(0, str(ROOT))

from benchmarks.freeze_contention import (  # noqa: E402
    BATCH,
    NOW,
    a_database_with_a_round,
    freezing,
    wanting_the_gil,
)
from benchmarks.throwaway import Throwaway  # noqa: E402
from store.outbox import Queued, Target  # noqa: E402
from store.rounds.steps import NudgeOutcome, record_nudges  # noqa: E402
from store.rounds.tables import RoundParticipant  # noqa: E402

PEOPLE = 6_000
DUE = NOW + timedelta(days=3)
CARD = '{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{"body":[' + ",".join(['{"type":"TextBlock","text":"A reminder about the self-assessment"}'] * 20) + "]}}]}"  # fmt: skip  # noqa: E501


def due_participants(round_id: int, session: Session) -> list[tuple[int, int]]:
    """Every participant due at DUE: (participant id, person id)."""
    session.execute(
        sa.update(RoundParticipant)
        .where(RoundParticipant.round_id == round_id)  # type: ignore[arg-type]
        .values(next_nudge_at=DUE)
    )
    rows = session.execute(
        sa.select(RoundParticipant.id, RoundParticipant.person_id)  # type: ignore[call-overload]
        .where(RoundParticipant.round_id == round_id)
        .order_by(RoundParticipant.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


def outcome(round_id: int, participant_id: int, person_id: int) -> NudgeOutcome:
    target = Target(
        service_url="https://smba.example/",
        user_id=f"29:p{person_id}",
        tenant_id="t",
        bot_id="28:b",
    )
    message = Queued(
        dedupe_key=f"round:{round_id}:nudge:person:{person_id}:1",
        kind="nudge",
        tenant_id="t",
        target=target,
        activity_json=CARD,
        person_id=person_id,
        round_id=round_id,
    )
    return NudgeOutcome(participant_id, DUE, 1, DUE, DUE + timedelta(days=2), message)


def recording(batch: list[NudgeOutcome], session: Session) -> int:
    return record_nudges(session, batch, NOW)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("label", nargs="?", default="this code")
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite)")
    parser.add_argument("--batch", type=int, help="people a write (default: the service's)")
    args = parser.parse_args()
    database = Throwaway(args.database_url, "nudges")
    try:
        record_batches(
            args.label, database, args.batch or (BATCH if args.database_url is None else 1000)
        )
    finally:
        database.drop()


def record_batches(label: str, database: Throwaway, batch_size: int) -> None:
    sys.setswitchinterval(0.001)
    db, round_id, entries = a_database_with_a_round("nudges.db", PEOPLE, database.url)
    for start in range(0, PEOPLE, BATCH):
        db.run_sync(functools.partial(freezing, round_id, entries[start : start + BATCH]))
    due = db.run_sync(functools.partial(due_participants, round_id))
    outcomes = [outcome(round_id, pid, person) for pid, person in due]
    stop = threading.Event()
    threading.Thread(target=wanting_the_gil, args=(stop,), daemon=True).start()
    times: list[float] = []
    queued = 0
    for start in range(0, len(outcomes), batch_size):
        batch = outcomes[start : start + batch_size]
        began = time.perf_counter()
        queued += db.run_sync(functools.partial(recording, batch))
        times.append((time.perf_counter() - began) * 1000)
    stop.set()
    assert queued == PEOPLE, queued
    times.sort()
    print(
        f"{label} ({database.kind}): record_nudges of {batch_size} people, another thread "
        f"wanting the GIL: median "
        f"{statistics.median(times):.1f} ms, p90 {times[int(len(times) * 0.9)]:.1f}, max "
        f"{times[-1]:.1f} ({len(times)} batches, {queued} nudges queued)"
    )
    db.dispose()


if __name__ == "__main__":
    main()
