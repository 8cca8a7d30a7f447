"""Erasing someone who answered a closed round, on SQLite and PostgreSQL: their answers and
their place on the roster go; the round's published results stay as the aggregates they were
(the summary posted to the team's channel is unchanged, byte for byte) and name no one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from framework.content import default_framework
from impact.features import FEATURES
from rounds.services.export_files import export_csv, export_xlsx
from store.db import Database
from store.privacy.rights import erase_everywhere, find_people
from store.rounds.frozen import results_of_closed_round
from tests.conftest import Clock
from tests.rounds.services.test_steps import outbox, six_of_seven_answered
from tests.rounds.services.test_steps import world as world
from tests.store.privacy.scan import needles, scan

pytestmark = pytest.mark.service

NOW = datetime(2030, 1, 1, tzinfo=UTC)  # when the results are read: frozen, so it says nothing

HOOKS = tuple(d for f in FEATURES for d in f.personal_data)
FRAMEWORK = default_framework()


def exports(db: Database, round_id: int, folder: Path) -> tuple[str, bytes, bytes]:
    """The round's frozen results, and its CSV and Excel files."""
    results = db.run_sync(
        lambda s: results_of_closed_round(
            s, round_id, framework=FRAMEWORK, min_group=5, min_comment_group=10, now=NOW
        )
    )
    folder.mkdir()
    export_csv(results, folder / "r.csv", FRAMEWORK)
    export_xlsx(results, folder / "r.xlsx", FRAMEWORK)
    return repr(results), (folder / "r.csv").read_bytes(), (folder / "r.xlsx").read_bytes()


async def test_a_closed_rounds_published_results_stay_when_a_respondent_is_erased(
    world: Any, db: Database, clock: Clock, tmp_path: Path
) -> None:
    jobs, new_round, _staff, lead = world
    round_id = await six_of_seven_answered(jobs, new_round, lead, db, clock)
    await jobs.close_due(clock.now)
    [summary] = outbox(db, "summary")
    before = exports(db, round_id, tmp_path / "before")
    [person] = db.run_sync(lambda s: find_people(s, "29:staff-2"))

    erased = db.run_sync(lambda s: erase_everywhere(
        s, "29:staff-2", HOOKS, actor="cli:dpo", requested_by="cli", now=clock.now))  # fmt: skip
    assert erased == 1
    [after] = outbox(db, "summary")
    assert (after.payload, after.status) == (summary.payload, summary.status)
    aad = "00000000-0000-0000-0000-000000000002"
    assert scan(db, needles("29:staff-2", aad, "Staff 2"), person.person_id) == []
    # The round's frozen results and every export of it: identical, byte for byte.
    assert exports(db, round_id, tmp_path / "after") == before
