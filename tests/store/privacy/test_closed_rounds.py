"""Erasing someone who answered a closed round, on SQLite and PostgreSQL: their answers and
their place on the roster go; the round's published results stay as the aggregates they were
(the summary posted to the team's channel is unchanged, byte for byte) and name no one."""

from __future__ import annotations

from typing import Any

import pytest

from impact.features import FEATURES
from store.db import Database
from store.privacy.rights import erase_everywhere, find_people
from tests.conftest import Clock
from tests.rounds.services.test_steps import outbox, six_of_seven_answered
from tests.rounds.services.test_steps import world as world
from tests.store.privacy.scan import needles, scan

pytestmark = pytest.mark.service

HOOKS = tuple(d for f in FEATURES for d in f.personal_data)


async def test_a_closed_rounds_published_results_stay_when_a_respondent_is_erased(
    world: Any, db: Database, clock: Clock
) -> None:
    jobs, new_round, _staff, lead = world
    await six_of_seven_answered(jobs, new_round, lead, db, clock)
    await jobs.close_due(clock.now)
    [summary] = outbox(db, "summary")
    [person] = db.run_sync(lambda s: find_people(s, "29:staff-2"))

    erased = db.run_sync(lambda s: erase_everywhere(
        s, "29:staff-2", HOOKS, actor="cli:dpo", requested_by="cli", now=clock.now))  # fmt: skip
    assert erased == 1
    [after] = outbox(db, "summary")
    assert (after.payload, after.status) == (summary.payload, summary.status)
    aad = "00000000-0000-0000-0000-000000000002"
    assert scan(db, needles("29:staff-2", aad, "Staff 2"), person.person_id) == []
    # TEST: (integrator, with `results`' frozen results) the round's frozen results and every
    # export of it are identical, byte for byte, before and after the erasure.
