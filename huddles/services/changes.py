"""Changing an item, from a huddle card, an `ideas`/`actions` list or an owner's nudge: an
action done; an idea tested (the next PDSA cycle), adopted or not taken forward; an escalation
unblocked or not possible, with a note, and the team that raised it told in its channel.

The card names the item with the revision it was drawn at (huddles.rules.views.item_ref); the
change is applied only to that revision (compare-and-set), so a double tap or a stale card never
applies a change twice. Anyone on the item's team's roster may change its ideas and actions; an
escalation is resolved by the team it is waiting on (where the team tree shows it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from framework.identity import Identity
from huddles.rules.items import (
    EscalationStatus,
    IdeaCommand,
    IdeaState,
    IdeaStatus,
    ItemKind,
    Refusal,
    Resolution,
    resolve_escalation,
    transition,
)
from huddles.rules.views import CHANGES, NoticeView, parse_item_ref
from huddles.services.access import HuddleAccess
from huddles.services.board import short_date, showing_team
from huddles.services.ports import HuddleMessages
from store.db import Database
from store.huddles import items as item_store
from store.huddles.items import ACTION_DONE, ACTION_OPEN, ItemRow
from store.huddles.tables import Huddle
from store.huddles.tree import parent_map
from store.outbox import Target, enqueue
from store.people import ensure_person
from store.teams import Team

CHOOSE = "Choose an item and what happened to it. Nothing was changed."
GONE = "That item doesn't exist, so nothing was changed."
STALE = "That item changed since this card was drawn, so nothing was changed: here it is now."
NOT_IN_TEAM = "Only members of {team} can change that. Nothing was changed."
FITS = {
    "done": ItemKind.ACTION,
    "start_cycle": ItemKind.IDEA,
    "adopt": ItemKind.IDEA,
    "not_taken_forward": ItemKind.IDEA,
    "unblocked": ItemKind.ESCALATION,
    "not_possible": ItemKind.ESCALATION,
}
TITLES = {choice.value: choice.title for choice in CHANGES}


@dataclass(frozen=True)
class Changed:
    note: str
    changed: bool = False
    kind: ItemKind | None = None
    team_id: int | None = None  # the item's team


class ItemChanges:
    def __init__(
        self,
        db: Database,
        access: HuddleAccess,
        messages: HuddleMessages,
        clock: Callable[[], datetime],
        *,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.access = access
        self.messages = messages
        self.clock = clock
        self.on_queued = on_queued

    async def apply(self, identity: Identity, ref: str, change: str, note_text: str) -> Changed:
        parsed = parse_item_ref(ref)
        if parsed is None or change not in FITS:
            return Changed(CHOOSE)
        kind, item_id, revision = parsed
        found = await self.db.run(lambda s: self._item_and_team(s, item_id))
        if found is None or found[0].kind != kind.value:
            return Changed(GONE)
        row, deciding_team = found
        if FITS[change] is not kind:
            title = TITLES[change].split(":")[0].split(" ")[0].lower()
            return Changed(
                f"“{TITLES[change]}” is for {title}s, not {kind.value}s. Nothing was changed.",
                kind=kind, team_id=row.team_id,
            )  # fmt: skip
        try:
            member = await self.access.member(identity, deciding_team)
        except Exception:
            return Changed("I couldn't check the team's members with Teams just now; try again.")
        if member is None:
            return Changed(NOT_IN_TEAM.format(team=deciding_team.name or "the team"))
        now = self.clock()

        def work(session: Session) -> Changed:
            return self._apply(session, identity, row, revision, change, note_text,
                               deciding_team, now)  # fmt: skip

        result = await self.db.run(work)
        if result.changed and kind is ItemKind.ESCALATION:
            self.on_queued()
        return result

    def _item_and_team(self, session: Session, item_id: int) -> tuple[ItemRow, Team] | None:
        row = item_store.item_row(session, item_id)
        if row is None:
            return None
        team_id = row.team_id
        if row.kind == ItemKind.ESCALATION.value:
            team_id = showing_team(parent_map(session), row.team_id, row.level)
        team = session.get(Team, team_id)
        return None if team is None else (row, team)

    def _apply(
        self,
        session: Session,
        identity: Identity,
        row: ItemRow,
        revision: int,
        change: str,
        note_text: str,
        deciding_team: Team,
        now: datetime,
    ) -> Changed:
        kind = ItemKind(row.kind)
        done = _decide(row, change, note_text, now)
        if isinstance(done, Refusal):
            return Changed(done.reason, kind=kind, team_id=row.team_id)
        values, said = done
        person = ensure_person(session, identity, now)
        if kind is ItemKind.ESCALATION:
            values |= {"resolved_by": person.id, "resolved_by_team_id": deciding_team.id}
        if not item_store.change_item(session, row.id, revision, now, **values):
            return Changed(STALE, kind=kind, team_id=row.team_id)
        if kind is ItemKind.ESCALATION:
            self._tell_raising_team(session, row, values, deciding_team, now)
        who = identity.name or "Someone"
        return Changed(f"✓ {who}: {said}.", True, kind, row.team_id)

    def _tell_raising_team(
        self, session: Session, row: ItemRow, values: dict[str, Any], by: Team, now: datetime
    ) -> None:
        team = session.get(Team, row.team_id)
        assert team is not None
        huddle = session.get(Huddle, row.huddle_id) if row.huddle_id else None
        conversation = huddle.conversation_id if huddle is not None else team.team_id
        unblocked = values["status"] == EscalationStatus.UNBLOCKED.value
        heading = "Escalation unblocked" if unblocked else "Escalation not possible"
        raised = short_date(row.created_at.date())
        view = NoticeView(
            heading=f"{heading}: {by.name or 'the team above'} replied",
            lines=(f"{team.name} escalated this on {raised}.",),
            quoted=(("Escalation: ", row.text), ("Their note: ", str(values["note"]))),
        )
        enqueue(
            session,
            dedupe_key=f"huddle:escalation:{row.id}:resolved",
            kind="notice",
            tenant_id=team.tenant_id,
            target=Target.conversation(conversation, team.service_url),
            activity=self.messages.notice(view),
            now=now,
            team_id=team.id,
        )


def _decide(
    row: ItemRow, change: str, note_text: str, now: datetime
) -> tuple[dict[str, Any], str] | Refusal:
    """The columns to write and what to say, or why not (pure, on the item as read)."""
    if row.kind == ItemKind.ACTION.value:
        if row.status != ACTION_OPEN:
            return Refusal("This action is done already, so nothing was changed.")
        return {"status": ACTION_DONE, "closed_at": now}, "action done"
    if row.kind == ItemKind.IDEA.value:
        state = IdeaState(IdeaStatus(row.status), row.cycles)
        moved = transition(state, IdeaCommand(change))
        if isinstance(moved, Refusal):
            return moved
        values: dict[str, Any] = {"status": moved.status.value, "cycles": moved.cycles}
        if moved.is_final:
            values["closed_at"] = now
        words = {
            IdeaStatus.TESTING: f"idea in test, PDSA cycle {moved.cycles}",
            IdeaStatus.ADOPTED: "idea adopted",
            IdeaStatus.NOT_TAKEN_FORWARD: "idea not taken forward",
        }
        return values, words[moved.status]
    resolved = resolve_escalation(EscalationStatus(row.status), EscalationStatus(change), note_text)
    if isinstance(resolved, Refusal):
        return Refusal(f"{resolved.reason.rstrip('.')}. Nothing was changed.")
    assert isinstance(resolved, Resolution)
    values = {"status": resolved.status.value, "note": resolved.note, "closed_at": now}
    said = "escalation unblocked" if change == "unblocked" else "escalation not possible"
    return values, f"{said}; the team that raised it is told"
