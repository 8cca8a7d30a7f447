"""Teams the bot is installed in (from Teams' install and rename events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from store.models import Team


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
