"""A person's rights over their data, in the 1:1 chat: `my data` gives a link to everything
stored about them (read when the link is opened: bot.routes.my_data), and `forget me` erases it
after a confirmation. Who they are comes from Teams (the turn's identity), never from card data,
so a card can only ever act on the person who pressed it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.actions.privacy import ForgetCancelAction, ForgetConfirmAction
from bot.cards import privacy as cards
from bot.registry import FeatureContext, Reply, Turn
from framework.identity import Identity
from store.audit import audit
from store.privacy.rights import erase_person, subject_in_tenant
from store.privacy.tables import create_personal_link
from store.rounds.export_links import LINK_LIFETIME

ERASED_ACTOR = "self (erased)"
# How long `forget me`'s confirmation card may be answered (an old card pressed by mistake, or
# pressed again, erases nothing).
CONFIRM_WITHIN = timedelta(minutes=15)


def actor_of(identity: Identity) -> str:
    return identity.aad_object_id or f"teams:{identity.teams_user_id}"


class PrivacyDialog:
    def __init__(self, ctx: FeatureContext) -> None:
        self.db, self.clock = ctx.db, ctx.clock
        self.public_url = ctx.settings.public_url.rstrip("/")
        self.hooks = ctx.personal_data

    async def my_data(self, turn: Turn, _text: str) -> Reply:
        if not self.public_url:
            return Reply(send=[cards.my_data_unavailable_card()])
        identity = turn.identity

        def link(session: Session) -> str | None:
            subject = subject_in_tenant(session, identity.tenant_id, identity.teams_user_id)
            if subject is None:
                return None
            now = self.clock()
            made = create_personal_link(session, subject.person_id, now)
            audit(session, actor=actor_of(identity), action="person.export",
                  detail={"via": "chat"}, now=now)  # fmt: skip
            return made.token

        token = await self.db.run(link)
        if token is None:
            return Reply(send=[cards.nothing_stored_card()])
        minutes = int(LINK_LIFETIME.total_seconds() // 60)
        return Reply(send=[cards.my_data_card(f"{self.public_url}/my-data/{token}", minutes)])

    async def forget_me(self, _turn: Turn, _text: str) -> Reply:
        asked_at = int(self.clock().timestamp())
        minutes = int(CONFIRM_WITHIN.total_seconds() // 60)
        return Reply(send=[cards.forget_confirm_card(asked_at, minutes)])

    async def on_forget(self, turn: Turn, action: ForgetConfirmAction) -> Reply:
        asked = self.clock() - datetime.fromtimestamp(action.asked_at, UTC)
        if not timedelta(0) <= asked <= CONFIRM_WITHIN:
            return _settle(turn, cards.forget_expired_card())
        identity = turn.identity

        def erase(session: Session) -> bool:
            subject = subject_in_tenant(session, identity.tenant_id, identity.teams_user_id)
            if subject is None:
                return False
            erase_person(session, subject, self.hooks, actor=ERASED_ACTOR,
                         requested_by="self", now=self.clock())  # fmt: skip
            return True

        erased = await self.db.run(erase)
        done = cards.forgotten_card() if erased else cards.nothing_stored_card()
        return _settle(turn, done)

    async def on_keep(self, turn: Turn, _action: ForgetCancelAction) -> Reply:
        return _settle(turn, cards.kept_card())


def _settle(turn: Turn, shown: dict[str, Any]) -> Reply:
    """The confirmation card becomes the outcome (in place), or the outcome follows it."""
    return Reply(replace=shown) if turn.invoked or turn.card_id else Reply(send=[shown])
