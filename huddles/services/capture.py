"""Capturing what comes out of a huddle, from its card: "I'm here", ideas, actions and
escalations, whether the huddle was held, and changes to items (an action done, an idea's PDSA
cycle or outcome, an escalation unblocked or not possible, the raising team told).

Every press is checked on the server, whatever the card says: the huddle exists, it is this
channel's team's, the person is on the team's roster; a change applies only to the item as the
card drew it (its revision), once. Each method returns a `Captured`: the card as it stands now
with a one-line note, and whether anything changed (then everyone's card is updated)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from framework.huddle_formats import HuddleFormats
from framework.identity import Identity, TeamMember
from huddles.rules.digest import HuddleStatus
from huddles.rules.items import ItemError, ItemKind, check_text
from huddles.rules.views import Draft, PromptView
from huddles.services.access import NOT_A_LEAD, HuddleAccess
from huddles.services.board import ME, prompt_view
from huddles.services.changes import ItemChanges
from store.db import Database
from store.huddles import occurrences
from store.huddles.items import NewItem, add_item
from store.huddles.schedules import timing_of
from store.huddles.tables import Huddle, HuddleSchedule
from store.people import ensure_person
from store.teams import Team

NO_HUDDLE = "That huddle doesn't exist, so nothing was changed."
OTHER_TEAM = "That card belongs to another team's huddle, so nothing was changed."
NOT_IN_TEAM = "Only members of {team} can add to its huddle. Nothing was changed."
NO_ROSTER = "I couldn't check the team's members with Teams just now; please try again."
KIND_WORDS = {ItemKind.IDEA: "idea", ItemKind.ACTION: "action", ItemKind.ESCALATION: "escalation"}


@dataclass(frozen=True)
class Captured:
    """The card to show (None when the person may not see this huddle's card), a one-line note,
    and whether anything was recorded."""

    view: PromptView | None
    note: str
    changed: bool = False


@dataclass(frozen=True)
class _Context:
    huddle: Huddle
    schedule: HuddleSchedule
    team: Team
    member: TeamMember
    members: list[TeamMember]
    leads: list[TeamMember]


class HuddleCapture:
    def __init__(
        self,
        db: Database,
        access: HuddleAccess,
        formats: HuddleFormats,
        changes: ItemChanges,
        clock: Callable[[], datetime],
        *,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.access = access
        self.formats = formats
        self.changes = changes
        self.clock = clock
        self.on_queued = on_queued

    # -- the checks every press goes through --------------------------------------------------

    async def _context(
        self, identity: Identity, huddle_id: int, channel_team: str | None
    ) -> _Context | str:
        found = await self.db.run(lambda s: occurrences.get_huddle(s, huddle_id))
        if found is None:
            return NO_HUDDLE
        huddle, schedule, team = found
        if channel_team is not None and channel_team != team.team_id:
            return OTHER_TEAM
        try:
            member = await self.access.member(identity, team)
            members = await self.access.roster(team)
            leads = await self.access.leads(team)
        except Exception:
            return NO_ROSTER
        if member is None:
            return NOT_IN_TEAM.format(team=team.name or "the team")
        return _Context(huddle, schedule, team, member, members, leads)

    def view(
        self, session: Session, ctx: _Context, note: str, draft: Draft | None = None
    ) -> PromptView:
        assert ctx.huddle.id is not None
        view = prompt_view(
            session, ctx.huddle.id, self.formats, members=ctx.members, leads=ctx.leads,
            now=self.clock(), notice=note, draft=draft,
        )  # fmt: skip
        assert view is not None
        return view

    async def current(
        self, identity: Identity, huddle_id: int, channel_team: str | None, note: str
    ) -> Captured:
        """The huddle's card as it stands, with a note (after a refusal made elsewhere)."""
        ctx = await self._context(identity, huddle_id, channel_team)
        if isinstance(ctx, str):
            return Captured(None, ctx)
        return Captured(await self.db.run(lambda s: self.view(s, ctx, note)), note)

    # -- I'm here -----------------------------------------------------------------------------

    async def here(self, identity: Identity, huddle_id: int, channel_team: str | None) -> Captured:
        ctx = await self._context(identity, huddle_id, channel_team)
        if isinstance(ctx, str):
            return Captured(None, ctx)
        now = self.clock()

        def work(session: Session) -> Captured:
            huddle = ctx.huddle
            assert huddle.id is not None
            today = now.astimezone(timing_of(ctx.schedule).tz).date()
            if huddle.local_date != today:
                day = f"{huddle.local_date:%A} {huddle.local_date.day} {huddle.local_date:%B}"
                note = f'This huddle was on {day}; "I\'m here" counts on the day.'
                return Captured(self.view(session, ctx, note), note)
            person = ensure_person(session, identity, now)
            assert person.id is not None
            if not occurrences.add_attendance(session, huddle.id, person.id, now):
                note = f"You're already counted, {ctx.member.name or 'thank you'}."
                return Captured(self.view(session, ctx, note), note)
            note = f"✓ {ctx.member.name or 'Someone'} is here."
            return Captured(self.view(session, ctx, note), note, changed=True)

        return await self.db.run(work)

    # -- adding items -------------------------------------------------------------------------

    async def add(
        self,
        identity: Identity,
        huddle_id: int,
        channel_team: str | None,
        draft: Draft,
    ) -> Captured:
        """An idea, action or escalation from the card's forms (`draft.kind`)."""
        ctx = await self._context(identity, huddle_id, channel_team)
        if isinstance(ctx, str):
            return Captured(None, ctx)
        kind = ItemKind(draft.kind)
        now = self.clock()
        word = KIND_WORDS[kind]
        captures = self._format_captures(ctx.schedule)
        try:
            if kind.value not in captures:
                raise ItemError(f"This huddle's format doesn't take {word}s")
            text = check_text(draft.text, word)
            owner, due = self._owner_and_due(ctx, draft, kind, now)
        except ItemError as exc:
            note = f"{str(exc).rstrip('.')}. Nothing was added."
            return await self.db.run(lambda s: Captured(self.view(s, ctx, note, draft), note))

        def work(session: Session) -> Captured:
            adder = ensure_person(session, identity, now)
            assert adder.id is not None
            owner_id = adder.id
            if owner is not None:
                owner_person = ensure_person(session, _identity_of(owner, identity.tenant_id), now)
                assert owner_person.id is not None
                owner_id = owner_person.id
            assert ctx.team.id is not None
            new = NewItem(
                team_id=ctx.team.id,
                huddle_id=ctx.huddle.id,
                kind=kind,
                text=text,
                raised_by=adder.id,
                owner_id=owner_id if kind is not ItemKind.ESCALATION else None,
                due=due,
                capture_key=_capture_key(huddle_id, kind, adder.id, text),
            )
            if add_item(session, new, now) is None:
                note = f"That {word} is on the board already."
                return Captured(self.view(session, ctx, note), note)
            note = f"✓ {ctx.member.name or 'Someone'} added {_article(word)}."
            return Captured(self.view(session, ctx, note), note, changed=True)

        return await self.db.run(work)

    def _format_captures(self, schedule: HuddleSchedule) -> tuple[str, ...]:
        try:
            return tuple(self.formats.format(schedule.format_id).captures)
        except KeyError:
            return tuple(kind.value for kind in ItemKind)

    def _owner_and_due(
        self, ctx: _Context, draft: Draft, kind: ItemKind, now: datetime
    ) -> tuple[TeamMember | None, date | None]:
        if kind is not ItemKind.ACTION:
            return None, None
        owner = ctx.member
        if draft.owner and draft.owner != ME:
            chosen = next((m for m in ctx.members if m.teams_user_id == draft.owner), None)
            if chosen is None:
                raise ItemError("Choose the action's owner from the team")
            owner = chosen
        try:
            due = date.fromisoformat(draft.due)
        except ValueError:
            raise ItemError("Give the action a due date") from None
        today = now.astimezone(timing_of(ctx.schedule).tz).date()
        if due < today:
            raise ItemError("That due date has passed; choose today or later")
        return owner, due

    # -- held, or not -------------------------------------------------------------------------

    async def outcome(
        self,
        identity: Identity,
        huddle_id: int,
        channel_team: str | None,
        status: HuddleStatus,
        note_text: str,
    ) -> Captured:
        ctx = await self._context(identity, huddle_id, channel_team)
        if isinstance(ctx, str):
            return Captured(None, ctx)
        action = f"huddle.{status.value}"
        draft = Draft(kind="outcome", note=note_text)
        if not await self.access.decide_manage(identity, ctx.team, action):
            return await self.db.run(lambda s: Captured(self.view(s, ctx, NOT_A_LEAD), NOT_A_LEAD))
        try:
            note = check_text(note_text, "note") if note_text.strip() else None
            if status is HuddleStatus.NOT_HELD and note is None:
                raise ItemError("Say why the huddle didn't happen")
        except ItemError as exc:
            message = f"{str(exc).rstrip('.')}. Nothing was recorded."
            return await self.db.run(lambda s: Captured(self.view(s, ctx, message, draft), message))
        now = self.clock()

        def work(session: Session) -> Captured:
            assert ctx.huddle.id is not None
            person = ensure_person(session, identity, now)
            assert person.id is not None
            if not occurrences.record_outcome(session, ctx.huddle.id, status, note, person.id, now):
                message = "This huddle is recorded already, so nothing was changed."
                return Captured(self.view(session, ctx, message), message)
            said = "held" if status is HuddleStatus.HELD else "not held"
            message = f"✓ Recorded as {said} by {ctx.member.name or 'the lead'}."
            return Captured(self.view(session, ctx, message), message, changed=True)

        return await self.db.run(work)

    # -- changing an item from the huddle card ------------------------------------------------

    async def change(
        self,
        identity: Identity,
        huddle_id: int,
        channel_team: str | None,
        ref: str,
        change: str,
        note_text: str,
    ) -> Captured:
        ctx = await self._context(identity, huddle_id, channel_team)
        if isinstance(ctx, str):
            return Captured(None, ctx)
        result = await self.changes.apply(identity, ref, change, note_text)
        draft = None if result.changed else Draft(kind="change", note=note_text)
        if result.changed:
            self.on_queued()
        return await self.db.run(
            lambda s: Captured(self.view(s, ctx, result.note, draft), result.note, result.changed)
        )


def _identity_of(member: TeamMember, tenant_id: str) -> Identity:
    return Identity(
        tenant_id=member.tenant_id or tenant_id,
        teams_user_id=member.teams_user_id,
        aad_object_id=member.aad_object_id,
        name=member.name,
    )


def _capture_key(huddle_id: int, kind: ItemKind, person_id: int, text: str) -> str:
    raw = f"{huddle_id}\n{kind.value}\n{person_id}\n{text.casefold()}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"
