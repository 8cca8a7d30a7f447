"""The huddle services' proactive messages (huddles.services.ports.HuddleMessages), drawn with
these cards: the composition root hands this to the huddle steps."""

from __future__ import annotations

from bot.cards.common import message_activity
from bot.cards.huddles.boards import digest_card, notice_card, nudge_card
from bot.cards.huddles.prompt import prompt_card
from huddles.rules.views import DigestView, NoticeView, NudgeView, PromptView
from huddles.services.ports import Activity


class HuddleCards:
    def prompt(self, view: PromptView) -> Activity:
        return message_activity(prompt_card(view))

    def notice(self, view: NoticeView) -> Activity:
        return message_activity(notice_card(view))

    def nudge(self, view: NudgeView) -> Activity:
        return message_activity(nudge_card(view))

    def digest(self, view: DigestView) -> Activity:
        return message_activity(digest_card(view))
