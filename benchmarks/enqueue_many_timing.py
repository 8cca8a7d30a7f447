"""One nudge batch through `store.outbox.enqueue_many`: its time and what it allocates.

    .venv/bin/python benchmarks/enqueue_many_timing.py [--rows 1000] [--cards 1] [--repeat 15]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]

The batch is what the due nudge tick queues: `--rows` messages (default 1,000, a batch's most),
each to its own person, with `--cards` distinct nudge cards among them (the real one, drawn by
bot.cards with a long round name and three teams, the first of which differs between cards: a
trust's nudges differ by their people's teams, some 20 people a card in benchmarks/trust_scale.py,
so a write part of 250 has a dozen). Each repetition queues a fresh batch (new keys) in its own
transaction on a throwaway database (SQLite file, or PostgreSQL with `--database-url`).

Printed: the call's wall time and the calling thread's CPU time (median and best of
`--repeat`), then one more batch under tracemalloc: the peak of memory allocated during the call
over what was allocated before it, and the bytes still held after it (garbage the call left for
the collector, and its results), and the garbage collector's gen0 count added by the call
(container objects allocated, net).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session

from benchmarks.throwaway import Throwaway
from bot.cards.rounds.messages import RoundCards
from rounds.rules.views import InvitationView
from store import outbox
from store.db import Database
from store.schema import upgrade

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SERVICE = "https://smba.trafficmanager.net/uk/"


def nudge_card(team: int = 7) -> str:
    view = InvitationView(
        round_id=1,
        round_name="Winter 2026 self-assessment — wards and community teams",
        team_names=(f"Ward {team} (Acute Medicine)", "Community Nursing — North", "Theatres"),
        closes_on="Friday 11 December",
        question_count=22,
        minutes=(15, 25),
        nudge=True,
    )
    return outbox.activity_json(RoundCards().invitation(view))


def batch(run: int, rows: int, cards: list[str]) -> list[outbox.Queued]:
    return [
        outbox.Queued(
            dedupe_key=f"round:{run}:nudge:person:{n}:1",
            kind="nudge",
            tenant_id="tenant-1",
            target=outbox.Target.person(
                user_id=f"29:1{n:06d}-aad-object-id-of-the-person",
                tenant_id="tenant-1",
                service_url=SERVICE,
                bot_id="28:bot-app-id",
            ),
            activity_json=cards[n * len(cards) // rows],
        )
        for n in range(rows)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--cards", type=int, default=1, help="distinct cards in a batch")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server")
    args = parser.parse_args()
    database = Throwaway(args.database_url, "enqueue")
    try:
        db = Database(database.url)
        upgrade(db.engine)
        cards = [nudge_card(7 + k) for k in range(args.cards)]
        walls: list[float] = []
        cpus: list[float] = []

        def timed(run: int) -> None:
            messages = batch(run, args.rows, cards)

            def work(session: Session) -> int:
                wall, cpu = time.perf_counter(), time.thread_time()
                queued = outbox.enqueue_many(session, messages, now=NOW)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.thread_time() - cpu)
                return queued

            assert db.run_sync(work) == args.rows

        timed(0)  # warm-up: statements compiled, connections made
        walls.clear()
        cpus.clear()
        for run in range(1, args.repeat + 1):
            timed(run)
        messages = batch(args.repeat + 1, args.rows, cards)
        allocated: dict[str, int] = {}

        def traced(session: Session) -> int:
            gc.collect()
            gc.disable()
            tracemalloc.start()
            before, _ = tracemalloc.get_traced_memory()
            count = gc.get_count()[0]
            queued = outbox.enqueue_many(session, messages, now=NOW)
            allocated["containers"] = gc.get_count()[0] - count
            after, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            gc.enable()
            allocated["peak"] = peak - before
            allocated["held"] = after - before
            return queued

        assert db.run_sync(traced) == args.rows
        db.engine.dispose()
    finally:
        database.drop()
    ms = [w * 1000 for w in walls]
    cpu_ms = [c * 1000 for c in cpus]
    print(
        f"enqueue_many, {args.rows} rows, {len(cards)} distinct cards of about "
        f"{len(cards[0].encode())} bytes, "
        f"{database.title}, {args.repeat} batches"
    )
    print(f"  wall        median {statistics.median(ms):7.1f} ms, best {min(ms):7.1f} ms")
    print(f"  thread CPU  median {statistics.median(cpu_ms):7.1f} ms, best {min(cpu_ms):7.1f} ms")
    print(
        f"  allocated   peak {allocated['peak'] / 1e6:.2f} MB over the start, "
        f"{allocated['held'] / 1e6:.2f} MB still held after the call; "
        f"gc gen0 count +{allocated['containers']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
