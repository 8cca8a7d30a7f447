"""The one place a turn's replies leave for Teams.

A reply is an optional replacement for the card that was used, then the cards to send. For an
Action.Execute invoke the replacement travels in the invoke response itself (an
AdaptiveCardInvokeResponse: CloudAdapter 4.17 answers HTTP 500 to a plain dict body); for the
Action.Submit fallback it is an update of the card's activity. Every request to Teams here
goes through the turn's `TurnRequests` (bot.turn_requests): counted first in the process's one
budget, and sent again, within a few seconds, when Teams answers that it did not take it. A
reply that still could not be sent is logged, not apologised for: what the person did was saved
before the reply, and their next message carries on from there. Proactive messages (rounds,
nudges, huddles) go through the outbox sender, which has retries of its own.
"""

from __future__ import annotations

import logging
from functools import partial
from http import HTTPStatus

from botbuilder.core import CardFactory, InvokeResponse, TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    AttachmentLayoutTypes,
    ErrorResponseException,
)

from bot.adapter import ReplyActivity, SharedCardContent
from bot.cards.assessment import notice_card
from bot.cards.assessment_views import NoticeView
from bot.cards.common import CARD_CONTENT_TYPE, Card
from bot.registry import Reply
from bot.turn_requests import ReplyNotSent, turn_requests

log = logging.getLogger(__name__)


def card_activity(content: Card) -> Activity:
    return ReplyActivity(
        type=ActivityTypes.message,
        attachment_layout=AttachmentLayoutTypes.list,
        attachments=[CardFactory.adaptive_card(SharedCardContent(content))],
    )


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
    """Send a reply in a message turn (Action.Submit or text). A replacement with no card to
    replace (no replyToId, or one Teams no longer has) is sent as a new card instead."""
    try:
        if reply.replace is not None and not (
            replace_activity_id
            and await _replaced(turn_context, replace_activity_id, reply.replace)
        ):
            reply = Reply(send=[reply.replace, *reply.send], posted=reply.posted)
        await _send(turn_context, reply)
    except ReplyNotSent as exc:
        _not_sent(turn_context, exc)


async def _replaced(turn_context: TurnContext, activity_id: str, content: Card) -> bool:
    try:
        await _update(turn_context, activity_id, content)
    except ErrorResponseException as exc:  # deleted, never ours, or not a card: 404 / 400
        log.warning("could not replace card %s: %s", activity_id, exc)
        return False
    return True


async def deliver_invoke(turn_context: TurnContext, reply: Reply) -> InvokeResponse:
    """Send a reply in an Action.Execute turn: the replacement card is the invoke's answer (and,
    for a card everyone shares, the message's new content too)."""
    card_id = turn_context.activity.reply_to_id
    if reply.replace is not None and reply.everyone and card_id:
        try:
            await _update(turn_context, card_id, reply.replace)
        except Exception:  # the presser still sees the new card; others see it next time
            log.warning("could not update card %s for everyone", card_id, exc_info=True)
    try:
        await _send(turn_context, reply)
    except ReplyNotSent as exc:  # the presser still gets the card in the invoke's answer
        _not_sent(turn_context, exc)
    replacement = reply.replace or notice_card(NoticeView("✓ Done"))
    body = AdaptiveCardInvokeResponse(
        status_code=int(HTTPStatus.OK),
        type=CARD_CONTENT_TYPE,
        value=SharedCardContent(replacement),
    )
    # Stored where the adapter reads it, rather than returned for the SDK to send through
    # TurnContext.send_activities (a copy of the activity and its card, and the send pipeline,
    # for an answer that never leaves this process); the SDK sends nothing once it is set.
    set_invoke_response(turn_context, HTTPStatus.OK, body)
    return invoke_status(HTTPStatus.OK, body)


async def _send(turn_context: TurnContext, reply: Reply) -> None:
    """The reply's new cards; then, if it asks, it is told the last one's id and earlier cards
    are updated in place. An earlier card that can't be updated (deleted, say) is logged and
    left: the new card has already arrived."""
    if not reply.send:
        return
    requests = turn_requests(turn_context)
    sent = None
    for content in reply.send:  # one at a time: a retry must not send an earlier card again
        sent = await requests.request(
            partial(turn_context.send_activity, card_activity(content)), what="a reply"
        )
    last_id = sent.id if sent is not None else None
    if reply.posted is None or not last_id:
        return
    for update in await reply.posted(str(last_id)):
        try:
            await _update(turn_context, update.activity_id, update.card)
        except Exception as exc:  # the earlier card is gone or Teams refused: not worth a failure
            log.warning("could not update card %s: %s", update.activity_id, exc)


async def _update(turn_context: TurnContext, activity_id: str, content: Card) -> None:
    update = card_activity(content)
    update.id = activity_id
    await turn_requests(turn_context).request(
        partial(turn_context.update_activity, update), what="a card update", repeatable=True
    )


def _not_sent(turn_context: TurnContext, exc: ReplyNotSent) -> None:
    activity = turn_context.activity
    log.log(
        logging.WARNING if exc.maybe_delivered else logging.ERROR,
        "a reply in conversation %s to %s was not sent: %s. What they did is saved, and their "
        "next message carries on from there.",
        getattr(activity.conversation, "id", None),
        getattr(activity.from_property, "id", None),
        exc,
    )
