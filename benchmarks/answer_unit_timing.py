"""An answer's unit of work alone: `AssessmentService.act` for one level chosen, with nothing
else running (no HTTP, no cards, no live card swap), on a throwaway database.

    .venv/bin/python benchmarks/answer_unit_timing.py [--people 40] [--rounds 3]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]

`--people` people each answer the framework's questions one after another, one answer at a
time, `--rounds` times over (each round on fresh assessments); the first round warms up and is
not counted. Printed: the answer's wall time (median, p90) and the process's CPU time per answer
(all threads: the event loop's and the database thread's), and the statements sent per answer,
with how many ran in autocommit (PostgreSQL then sends no BEGIN before them and no COMMIT after).
The turn benchmark (answer_roundtrip.py) measures the same code among everything else a turn
does, where its share is hard to see through the machine's noise.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from assessment.rules import ChooseLevel, Decision  # noqa: E402
from assessment.service import AssessmentService  # noqa: E402
from benchmarks.throwaway import Throwaway  # noqa: E402
from framework.content import default_framework  # noqa: E402
from framework.identity import Identity  # noqa: E402
from store.db import Database  # noqa: E402
from store.schema import upgrade  # noqa: E402

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Statements:
    """Statements sent, and how many of them on a connection in autocommit."""

    def __init__(self, db: Database) -> None:
        self.sent = 0
        self.autocommit = 0
        event.listen(db.engine, "before_cursor_execute", self._seen)

    def _seen(self, connection: Any, *_rest: Any) -> None:
        self.sent += 1
        self.autocommit += bool(connection.connection.dbapi_connection.autocommit is True)


async def one_round(
    service: AssessmentService, people: list[Identity], questions: int
) -> tuple[list[float], list[float]]:
    """Every person answers every question; the wall and CPU seconds of each answer."""
    started = [await service.start_or_resume(person) for person in people]
    walls: list[float] = []
    cpus: list[float] = []
    for question in range(1, questions + 1):
        for n, (person, snapshot) in enumerate(zip(people, started, strict=True)):
            command = ChooseLevel(question, 1 + (n + question) % 5, None, token=question)
            cpu, wall = time.process_time(), time.perf_counter()
            outcome = await service.act(person, snapshot.assessment_id, command)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            if not isinstance(outcome.result, Decision):
                raise SystemExit(f"answer refused: {outcome.result}")
    return walls, cpus


async def measure(url: str, people: int, rounds: int) -> None:
    db = Database(url, pool_size=8)
    upgrade(db.engine)
    framework = default_framework()
    service = AssessmentService(db, framework, lambda: NOW)
    statements = Statements(db)
    walls: list[float] = []
    cpus: list[float] = []
    sent = autocommit = 0
    try:
        for number in range(rounds):
            identities = [
                Identity("tenant-1", f"29:r{number}-p{n}", None, f"Person {n}")
                for n in range(people)
            ]
            before = (statements.sent, statements.autocommit)
            w, c = await one_round(service, identities, framework.question_count)
            if number:  # the first round warms up
                walls += w
                cpus += c
                sent += statements.sent - before[0]
                autocommit += statements.autocommit - before[1]
    finally:
        db.dispose()
    answers = len(walls)
    print(f"database: {db.engine.dialect.name}; {answers} answers counted, one at a time")
    print(
        f"wall per answer: median {statistics.median(walls) * 1e6:.0f} us, "
        f"p90 {statistics.quantiles(walls, n=10)[8] * 1e6:.0f} us"
    )
    print(f"CPU per answer (process): median {statistics.median(cpus) * 1e6:.0f} us, "
          f"mean {statistics.fmean(cpus) * 1e6:.0f} us")  # fmt: skip
    # The statements include starting each round's assessments (one unit per person).
    print(
        f"statements per answer (with the assessments' start): {sent / answers:.2f}, "
        f"in autocommit {autocommit / answers:.2f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server (else SQLite)")
    args = parser.parse_args(argv)
    if args.rounds < 2 or args.people < 1:
        parser.error("--rounds must be at least 2 (the first warms up), --people at least 1")
    database = Throwaway(args.database_url, "answerunit")
    try:
        asyncio.run(measure(database.url, args.people, args.rounds))
    finally:
        database.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
