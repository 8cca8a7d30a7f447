"""The self-assessment's application service: each method is one unit of work on the database
(store.assessments.aggregate decides with assessment.rules and writes with a compare-and-set).
Dialogs call this, never the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from assessment.rules import Choose, Command, Refused, Snapshot
from framework.content import Framework
from framework.identity import Identity
from store.assessments import live_cards
from store.assessments.aggregate import AssessmentStore, Outcome, Unsettled
from store.assessments.live_cards import ShownCard
from store.assessments.round_info import RoundTiming, round_timing
from store.db import Database
from store.rounds import participants


class AssessmentService:
    def __init__(self, db: Database, framework: Framework, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock
        self.store = AssessmentStore(framework, clock)

    async def current(self, identity: Identity) -> Snapshot | None:
        """The person's assessment in progress, else their latest submitted one."""
        return await self.db.run(lambda s: self.store.current(s, identity))

    async def owned(self, identity: Identity, assessment_id: int) -> Snapshot | None:
        return await self.db.run(lambda s: self.store.owned(s, identity, assessment_id))

    async def start_or_resume(self, identity: Identity, round_id: int | None = None) -> Snapshot:
        return await self.db.run(lambda s: self.store.start_or_resume(s, identity, round_id))

    async def act(
        self, identity: Identity, assessment_id: int, command: Command, card_id: str | None = None
    ) -> Outcome:
        """`card_id`: the card pressed; unless it is the person's live card, nothing is
        recorded. On PostgreSQL every command but the submit runs in statements that stand
        alone (`AssessmentStore.act_alone`: two round trips, not four or five)."""
        if self.db.statements_stand_alone:
            done = await self.db.run_autocommit(
                lambda c: self.store.act_alone(c, identity, assessment_id, command, card_id),
                reads_first=True,
            )
            if isinstance(done, Outcome):
                return done
            if done is Unsettled.LOST_RACE:
                return await self.db.run(
                    lambda s: self.store.settle_lost_race(s, identity, assessment_id, command)
                )
        return await self.db.run(
            lambda s: self.store.act(s, identity, assessment_id, command, card_id)
        )

    async def choose(
        self, identity: Identity, assessment_id: int, choice: Choose, card_id: str | None = None
    ) -> tuple[Refused | None, Snapshot | None]:
        """Check a level chosen on a card (None: it stands); nothing is recorded."""
        return await self.db.run_autocommit(
            lambda c: self.store.check_choice(c, identity, assessment_id, choice, card_id),
            reads_first=True,
        )

    async def restart(
        self, identity: Identity, assessment_id: int, token: int
    ) -> Snapshot | Refused:
        return await self.db.run(lambda s: self.store.restart(s, identity, assessment_id, token))

    async def reopen(self, identity: Identity, assessment_id: int) -> Snapshot | Refused:
        return await self.db.run(lambda s: self.store.reopen(s, identity, assessment_id))

    # -- a round's role question, asked once before the first question ----------------------

    async def role_question(self, round_id: int, person_id: int) -> str | None:
        """The round's name if this person still has to answer its role question."""
        return await self.db.run(lambda s: participants.role_question_for(s, round_id, person_id))

    async def participant(
        self, round_id: int, identity: Identity
    ) -> participants.ParticipantView | None:
        return await self.db.run(lambda s: participants.participant_view(s, round_id, identity))

    async def set_role(self, round_id: int, person_id: int, role: str) -> bool:
        """False, changing nothing, once the round has closed."""
        return await self.db.run(lambda s: participants.set_role(s, round_id, person_id, role))

    # -- the one live card ------------------------------------------------------------------

    async def live_card(self, person_id: int) -> ShownCard | None:
        return await self.db.run(lambda s: live_cards.live_card(s, person_id))

    async def swap_live_card(self, person_id: int, card: ShownCard | None) -> ShownCard | None:
        """`card` is now the person's live card (None: none); returns the one it replaced."""
        return await self.db.run_autocommit(
            lambda c: live_cards.swap_live_card(c, person_id, card, self.clock())
        )

    async def round_timing(self, round_id: int) -> RoundTiming | None:
        return await self.db.run(lambda s: round_timing(s, round_id))
