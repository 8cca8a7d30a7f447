"""Huddle ideas as improvement work the matrix shows and links to goals (a `WorkSource`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlmodel import Session

from alignment.services.ports import WorkItem
from store.huddles.items import ideas_for_alignment


class IdeaWork:
    """Every idea raised in a team's huddle, by team, with its status."""

    kind: Literal["idea"] = "idea"

    def list_work(self, session: Session) -> Sequence[WorkItem]:
        return [
            WorkItem("idea", idea_id, title, team, status)
            for idea_id, title, team, status in ideas_for_alignment(session)
        ]
