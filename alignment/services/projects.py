"""Improvement projects as a source of work for the matrix (alignment.services.ports)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlmodel import Session

from alignment.services.ports import WorkItem
from store.alignment.work import list_projects


class ProjectWork:
    """Every improvement project, oldest first, with its team and status."""

    kind: Literal["project"] = "project"

    def list_work(self, session: Session) -> Sequence[WorkItem]:
        return [
            WorkItem("project", p.id, p.title, p.team_name, p.status)
            for p in list_projects(session)
        ]
