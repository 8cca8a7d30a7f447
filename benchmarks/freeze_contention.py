"""The opening's freeze of a 200-person batch (store.rounds.opening.freeze_people) while another
thread wants the GIL all the time, as the event loop does while the sender runs at Teams'
limits. On SQLite every row a statement steps through is a GIL hand-off of the writer thread,
each a wait of up to the switch interval (1 ms, as bot.process_tuning sets it), and the writer is
where a person's answer waits its turn. Prints the batches' wall times for 15,000 people on a
file SQLite database.

    .venv/bin/python benchmarks/freeze_contention.py [LABEL]
"""

from __future__ import annotations

import functools
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make framework/ and store/ importable
    sys.path.insert(0, str(ROOT))

from framework.content import default_framework  # noqa: E402
from framework.identity import TeamMember  # noqa: E402
from store.db import Database  # noqa: E402
from store.rounds.lifecycle import RoundSpec, create_round  # noqa: E402
from store.rounds.opening import RosterEntry, freeze_people  # noqa: E402
from store.schema import upgrade  # noqa: E402
from store.teams import Team  # noqa: E402

NOW = datetime(2026, 11, 30, tzinfo=UTC)
PEOPLE = 15_000
BATCH = 200
TEAM = "19:a@thread.tacv2"


def a_round(session: Session) -> tuple[int, int]:
    team = Team(
        tenant_id="t", team_id=TEAM, name="A", channel_conversation_id="19:a",
        service_url="https://smba.example/", reference="{}", updated_at=NOW,
    )  # fmt: skip
    session.add(team)
    session.flush()
    spec = RoundSpec("R", (TEAM,), NOW, NOW + timedelta(days=14), "3d")
    round_ = create_round(session, spec, framework=default_framework(), actor="b", now=NOW)
    assert team.id is not None
    assert round_.id is not None
    return team.id, round_.id


def member(n: int) -> TeamMember:
    return TeamMember(f"29:user-{n}", f"aad-{n}", f"Person {n}", "t")


def roster(team_pk: int, people: int) -> list[RosterEntry]:
    """`people` members of the team, each a user."""
    return [RosterEntry(member(n), ((team_pk, "user"),)) for n in range(people)]


def a_database_with_a_round(
    name: str, people: int, url: str | None = None
) -> tuple[Database, int, list[RosterEntry]]:
    """A fresh database with one team's round, and `people` people for its roster (not frozen
    yet): the database, the round's id and the roster. SQLite file `name` unless `url` (an empty
    database, e.g. a benchmarks.throwaway one) is given."""
    db = Database(url or f"sqlite:///{Path(tempfile.mkdtemp()) / name}")
    upgrade(db.engine)
    team_pk, round_id = db.run_sync(a_round)
    return db, round_id, roster(team_pk, people)


def wanting_the_gil(stop: threading.Event) -> None:
    """Pure Python without a pause, as a busy event loop is."""
    total = 0
    while not stop.is_set():
        for n in range(1000):
            total += n


def freezing(round_id: int, chunk: list[RosterEntry], session: Session) -> None:
    freeze_people(session, round_id, chunk, NOW)


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else "this code"
    sys.setswitchinterval(0.001)
    db, round_id, entries = a_database_with_a_round("freeze.db", PEOPLE)
    stop = threading.Event()
    threading.Thread(target=wanting_the_gil, args=(stop,), daemon=True).start()
    times = []
    for start in range(0, PEOPLE, BATCH):
        chunk = entries[start : start + BATCH]
        began = time.perf_counter()
        db.run_sync(functools.partial(freezing, round_id, chunk))
        times.append((time.perf_counter() - began) * 1000)
    stop.set()
    times.sort()
    print(
        f"{label}: freeze of {BATCH} people, another thread wanting the GIL: median "
        f"{statistics.median(times):.1f} ms, p90 {times[int(len(times) * 0.9)]:.1f}, max "
        f"{times[-1]:.1f} ({len(times)} batches)"
    )
    db.dispose()


if __name__ == "__main__":
    main()
