"""Every table column that can hold a person's id, name or words is named by some feature's
personal-data hook, and every name a hook declares is a real column: a new table with a person
column and no hook fails here (README, "Adding a feature"; docs/privacy.md)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from impact.features import FEATURES
from store.personal import columns_of
from store.tables import metadata

pytestmark = pytest.mark.unit

# What a column holding a person looks like: who did something (`*_by`, `actor`), who it is
# (`person…`, `…user…`, `owner…`), what they wrote or what was sent to them.
PERSONISH = re.compile(
    r"(_by$|^actor$|person|user|owner|^name$|^reference$|^payload$|^comment$|^note$|^text$"
    r"|^detail$|^target$|aad_object_id|time_zone)"
)
# Columns the pattern matches that hold no person's data, and why.
NOT_PERSONAL = {
    "teams.name": "a Team's name, as Teams shows it to its members",
    "rounds.name": "a round's name, chosen by the improvement team",
    "huddle_schedules.name": "a huddle's name (e.g. Morning safety huddle)",
    "outbox.last_error": "Teams' error code and message, never the activity",
    "outbox.lease_owner": "the sending process (host and pid)",
    # (the `results` change's table) A closed round's frozen group results: aggregates, and
    # comments only of groups of IMPACT_MIN_COMMENT_GROUP_SIZE or more, never attributed; they
    # stay when a person is erased (issue 10, section 4).
    "round_results_frozen.payload": "a closed round's frozen group results",
}


def declared() -> set[str]:
    return columns_of(d for feature in FEATURES for d in feature.personal_data)


def person_columns(tables: sa.MetaData = metadata) -> set[str]:
    found = set()
    for table in tables.sorted_tables:
        for column in table.columns:
            points_at_people = any(fk.column.table.name == "people" for fk in column.foreign_keys)
            if points_at_people or PERSONISH.search(column.name):
                found.add(f"{table.name}.{column.name}")
    return found


def test_every_person_column_has_a_hook() -> None:
    missing = person_columns() - declared() - set(NOT_PERSONAL)
    assert not missing, f"person columns no personal-data hook declares: {sorted(missing)}"


def test_every_declared_column_exists() -> None:
    real = {f"{t.name}.{c.name}" for t in metadata.sorted_tables for c in t.columns}
    assert declared() <= real, sorted(declared() - real)


def test_the_check_would_catch_a_new_table_without_a_hook() -> None:
    """A table added with a foreign key to people and no declaration is reported."""
    scratch = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(scratch)
    giver = sa.Column("giver_id", sa.ForeignKey("people.id"))
    sa.Table("kudos", scratch, sa.Column("id", sa.Integer, primary_key=True), giver)
    missing = person_columns(scratch) - declared() - set(NOT_PERSONAL)
    assert missing == {"kudos.giver_id"}


def test_hook_names_are_unique() -> None:
    names = [d.name for feature in FEATURES for d in feature.personal_data]
    assert len(names) == len(set(names))
