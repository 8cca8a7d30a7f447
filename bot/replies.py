"""The one place a turn's replies leave for Teams.

A reply is an optional replacement for the card that was used, then the cards to send. For an
Action.Execute invoke the replacement travels in the invoke response itself (an
AdaptiveCardInvokeResponse: CloudAdapter 4.17 answers HTTP 500 to a plain dict body); for the
Action.Submit fallback it is an update of the card's activity. Proactive messages (rounds,
nudges, huddles) go through the outbox sender, which adds rate limiting and retries.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.schema import Activity, ActivityTypes, AdaptiveCardInvokeResponse

from bot.cards.assessment import notice_card
from bot.cards.assessment_views import NoticeView
from bot.cards.common import CARD_CONTENT_TYPE, Card
from bot.registry import Reply

log = logging.getLogger(__name__)


def card_activity(content: Card) -> Activity:
    return MessageFactory.attachment(CardFactory.adaptive_card(content))


def invoke_status(status: HTTPStatus, body: object = None) -> InvokeResponse:
    return InvokeResponse(status=int(status), body=body)


def set_invoke_response(turn_context: TurnContext, status: HTTPStatus, body: object = None) -> None:
    """Answer an invoke outside the activity handler (middleware, the turn error handler)."""
    turn_context.turn_state[TurnContext._INVOKE_RESPONSE_KEY] = Activity(
        type=ActivityTypes.invoke_response, value=invoke_status(status, body)
    )


async def deliver(
    turn_context: TurnContext, reply: Reply, *, replace_activity_id: str | None = None
) -> None:
    """Send a reply in a message turn (Action.Submit or text)."""
    if reply.replace is not None and replace_activity_id:
        update = card_activity(reply.replace)
        update.id = replace_activity_id
        await turn_context.update_activity(update)
    if reply.send:
        await turn_context.send_activities([card_activity(content) for content in reply.send])


async def deliver_invoke(turn_context: TurnContext, reply: Reply) -> InvokeResponse:
    """Send a reply in an Action.Execute turn: the replacement card is the invoke's answer (and,
    for a card everyone shares, the message's new content too)."""
    card_id = turn_context.activity.reply_to_id
    if reply.replace is not None and reply.everyone and card_id:
        update = card_activity(reply.replace)
        update.id = card_id
        try:
            await turn_context.update_activity(update)
        except Exception:  # the presser still sees the new card; others see it next time
            log.warning("could not update card %s for everyone", card_id, exc_info=True)
    if reply.send:
        await turn_context.send_activities([card_activity(content) for content in reply.send])
    replacement = reply.replace or notice_card(NoticeView("✓ Done"))
    body = AdaptiveCardInvokeResponse(
        status_code=int(HTTPStatus.OK), type=CARD_CONTENT_TYPE, value=replacement
    )
    return invoke_status(HTTPStatus.OK, body)
