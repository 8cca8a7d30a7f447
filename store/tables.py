"""Every table, imported so that `SQLModel.metadata` knows them all: Alembic's environment and
the test that compares the models with the migrated schema import this module.

Each feature keeps its tables beside its queries (store/<feature>); a new feature's table module
is added here.
"""

from __future__ import annotations

from sqlmodel import SQLModel

from store import audit, outbox, people, teams
from store.alignment import tables as alignment_tables
from store.assessments import tables as assessment_tables
from store.huddles import tables as huddle_tables
from store.privacy import tables as privacy_tables
from store.rounds import charts, export_links, frozen
from store.rounds import tables as round_tables

TABLE_MODULES = (
    people,
    teams,
    assessment_tables,
    round_tables,
    charts,
    export_links,
    frozen,
    huddle_tables,
    outbox,
    audit,
    alignment_tables,
    privacy_tables,
)

metadata = SQLModel.metadata
