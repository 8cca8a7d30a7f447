"""Teams the bot is installed in (from Teams' install and rename events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, select

from store.types import timestamp_column


class Team(SQLModel, table=True):
    """A Team the bot is installed in, with where to post in its channel."""

    __tablename__ = "teams"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    team_id: str = Field(max_length=256, unique=True)  # Teams' id, e.g. 19:…@thread.tacv2
    aad_group_id: str | None = Field(default=None, max_length=64)
    name: str = Field(default="", max_length=256)
    channel_conversation_id: str = Field(max_length=512)
    service_url: str = Field(max_length=512)
    reference: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    installed: bool = Field(default=True)
    updated_at: datetime = Field(sa_column=timestamp_column())


@dataclass(frozen=True)
class TeamInstall:
    tenant_id: str
    team_id: str
    aad_group_id: str | None
    name: str
    channel_conversation_id: str
    service_url: str
    reference_json: str


def record_install(session: Session, install: TeamInstall, now: datetime) -> Team:
    team = session.exec(select(Team).where(Team.team_id == install.team_id)).first()
    if team is None:
        team = Team(
            team_id=install.team_id,
            updated_at=now,
            reference="",
            tenant_id="",
            channel_conversation_id="",
            service_url="",
        )
        session.add(team)
    team.tenant_id = install.tenant_id
    team.aad_group_id = install.aad_group_id or team.aad_group_id
    team.name = install.name or team.name
    team.channel_conversation_id = install.channel_conversation_id
    team.service_url = install.service_url
    team.reference = install.reference_json
    team.installed = True
    team.updated_at = now
    session.flush()
    return team


def record_rename(session: Session, team_id: str, name: str, now: datetime) -> None:
    team = session.exec(select(Team).where(Team.team_id == team_id)).first()
    if team is not None and name:
        team.name = name
        team.updated_at = now


def record_removal(session: Session, team_id: str, now: datetime) -> None:
    team = session.exec(select(Team).where(Team.team_id == team_id)).first()
    if team is not None:
        team.installed = False
        team.updated_at = now


def installed_teams(session: Session) -> list[Team]:
    return list(
        session.exec(select(Team).where(col(Team.installed).is_(True)).order_by(Team.name)).all()
    )


def installed_team(session: Session, team_id: str) -> Team | None:
    """The team with this Teams id, if the bot is (still) installed in it."""
    return session.exec(
        select(Team).where(Team.team_id == team_id, col(Team.installed).is_(True))
    ).first()
