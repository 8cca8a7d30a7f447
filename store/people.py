"""People as Teams knows them, and where the bot can reach them: tables and queries."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, select

from framework.identity import Identity
from store import outbox
from store.types import timestamp_column


class Person(SQLModel, table=True):
    """A member of staff as Teams knows them. Keyed by tenant + Teams user id, never by email."""

    __tablename__ = "people"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "teams_user_id", name="uq_people_teams_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    teams_user_id: str = Field(max_length=256)
    aad_object_id: str | None = Field(default=None, max_length=64, index=True)
    name: str = Field(default="", max_length=256)
    time_zone: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=timestamp_column())
    updated_at: datetime = Field(sa_column=timestamp_column())


class ConversationRef(SQLModel, table=True):
    """Where the bot can reach someone (or a channel) proactively: a serialised
    ConversationReference, kept current from their latest activity."""

    __tablename__ = "conversation_refs"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(max_length=512, unique=True)
    scope: str = Field(max_length=16)  # personal | channel | groupChat
    person_id: int | None = Field(default=None, foreign_key="people.id", index=True)
    tenant_id: str = Field(max_length=64)
    service_url: str = Field(max_length=512)
    reference: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    updated_at: datetime = Field(sa_column=timestamp_column())


def find_person(session: Session, identity: Identity) -> Person | None:
    return session.exec(
        select(Person).where(
            Person.tenant_id == identity.tenant_id,
            Person.teams_user_id == identity.teams_user_id,
        )
    ).first()


def ensure_person(session: Session, identity: Identity, now: datetime) -> Person:
    person = find_person(session, identity)
    if person is None:
        person = Person(
            tenant_id=identity.tenant_id,
            teams_user_id=identity.teams_user_id,
            aad_object_id=identity.aad_object_id,
            name=identity.name,
            time_zone=identity.time_zone,
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(person)
                session.flush()
        except sa.exc.IntegrityError:
            # Their first two activities raced (two service processes): use the row that won.
            winner = find_person(session, identity)
            assert winner is not None
            return winner
    elif (person.name, person.aad_object_id, person.time_zone) != (
        identity.name,
        identity.aad_object_id,
        identity.time_zone or person.time_zone,
    ):
        person.name = identity.name
        person.aad_object_id = identity.aad_object_id or person.aad_object_id
        person.time_zone = identity.time_zone or person.time_zone
        person.updated_at = now
    return person


def save_reference(
    session: Session,
    *,
    person_id: int | None,
    scope: str,
    conversation_id: str,
    tenant_id: str,
    service_url: str,
    reference_json: str,
    now: datetime,
) -> None:
    """Insert or refresh where this conversation can be reached proactively."""
    row = session.exec(
        select(ConversationRef).where(ConversationRef.conversation_id == conversation_id)
    ).first()
    if row is None:
        session.add(
            ConversationRef(
                conversation_id=conversation_id,
                scope=scope,
                person_id=person_id,
                tenant_id=tenant_id,
                service_url=service_url,
                reference=reference_json,
                updated_at=now,
            )
        )
    elif (row.service_url, row.reference, row.person_id) != (
        service_url,
        reference_json,
        person_id,
    ):
        row.service_url = service_url
        row.reference = reference_json
        row.person_id = person_id
        row.updated_at = now


def remember_chat(
    session: Session,
    *,
    person_id: int | None,
    conversation_id: str,
    tenant_id: str,
    service_url: str,
    reference_json: str,
    now: datetime,
) -> None:
    """Store a chat the sender created, unless it is known already: one INSERT ... ON CONFLICT
    DO NOTHING. Not `save_reference`, which would overwrite the richer
    reference the bot stores from the person's own activity, and on PostgreSQL would need a
    savepoint for the race with it; this is a third of the cost, and the sender's busiest
    write."""
    table: sa.Table = ConversationRef.__table__  # type: ignore[attr-defined]
    values = {
        "conversation_id": conversation_id,
        "scope": "personal",
        "person_id": person_id,
        "tenant_id": tenant_id,
        "service_url": service_url,
        "reference": reference_json,
        "updated_at": outbox.utc(now),
    }
    connection = session.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(
        insert(table)
        .values(values)
        .on_conflict_do_nothing(index_elements=[table.c.conversation_id])
    )


def forget_conversation(session: Session, conversation_id: str) -> None:
    """The conversation can no longer be used (blocked, removed, gone)."""
    table: sa.Table = ConversationRef.__table__  # type: ignore[attr-defined]
    session.connection().execute(sa.delete(table).where(table.c.conversation_id == conversation_id))
