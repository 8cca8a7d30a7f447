"""The rounds services' proactive messages (rounds.services.ports.RoundMessages), drawn with
these cards: the composition root hands this to the round steps, which send it to their worker
process with each batch of nudges (picklable; equal to any other, so the worker's cache of
drawn nudge cards holds across batches)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.cards.common import message_activity
from bot.cards.rounds.invitation import invitation_card
from bot.cards.rounds.summary import summary_card
from rounds.rules.summary import SummaryView
from rounds.rules.views import InvitationView
from rounds.services.ports import Activity


@dataclass(frozen=True)
class RoundCards:
    def invitation(self, view: InvitationView) -> Activity:
        return message_activity(invitation_card(view))

    def summary(self, view: SummaryView) -> Activity:
        return message_activity(summary_card(view))
