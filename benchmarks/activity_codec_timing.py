"""msrest against bot/activity_codec.py: microseconds of CPU per activity, one thread.

    .venv/bin/python benchmarks/activity_codec_timing.py [--repeat 2000]

The activities are an answer turn's: the Action.Execute invoke the answer benchmark's people send
(benchmarks/answer_people.py through tests/fakes/teams_client.py, timestamp included) read into
an Activity, and the next question card sent back to them, addressed by the SDK from it (what
`TurnContext.send_activities` hands to the connector client's `Serializer.body`); and a round's
invitation as the outbox sender rebuilds it from its stored JSON; and the invoke with a number
where a string is declared, which the fast path leaves to msrest (its fallback). Each result is
checked equal to msrest's before anything is timed. The figures are best-of-5 means; other
processes on the machine make them noisy (the load average is printed): compare the columns of
one run, not runs.
"""

from __future__ import annotations

import argparse
import copy
import os
import timeit
from collections.abc import Callable
from typing import Any

from botbuilder.core import TurnContext
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import MicrosoftAppCredentials

from bot.activity_codec import activity_from_json, fast_activity_json
from bot.adapter import use_fast_json_objects
from bot.cards.assessment import help_card
from bot.cards.common import message_activity
from bot.cards.rounds.invitation import invitation_card
from bot.replies import card_activity
from rounds.rules.views import InvitationView

INVOKE: dict[str, Any] = {
    "id": "f:0123456789abcdef0123456789abcdef",
    "channelId": "msteams",
    "serviceUrl": "http://127.0.0.1:5555/",
    "timestamp": "2026-11-25T10:00:00.000Z",
    "localTimezone": "Europe/London",
    "locale": "en-GB",
    "from": {"id": "29:user-1", "name": "Person One", "aadObjectId": "0000-0001"},
    "recipient": {"id": "28:bot", "name": "NHS IMPACT"},
    "conversation": {"id": "a:conv-1", "conversationType": "personal", "tenantId": "tenant-1"},
    "channelData": {"tenant": {"id": "tenant-1"}},
    "type": "invoke",
    "name": "adaptiveCard/action",
    "replyToId": "act-17",
    "value": {
        "action": {
            "type": "Action.Execute",
            "verb": "answer",
            "data": {"assessment": "a1", "revision": "r1", "level": "3", "comment": ""},
        },
        "trigger": "manual",
    },
}


def best_mean_us(call: Callable[[], Any], repeat: int) -> float:
    return min(timeit.repeat(call, number=repeat, repeat=5)) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    client = ConnectorClient(MicrosoftAppCredentials("", ""), base_url="http://127.0.0.1:1/")
    use_fast_json_objects(client)  # as on our cached clients: msrest's body is what is replaced
    serializer = client._serialize

    incoming = activity_from_json(INVOKE)
    reply = copy.deepcopy(card_activity(help_card(22)))
    TurnContext.apply_conversation_reference(
        reply, TurnContext.get_conversation_reference(incoming)
    )
    view = InvitationView(
        round_id=1,
        round_name="Winter 2026",
        team_names=("Ward 7", "Outpatients"),
        closes_on="Friday 11 December",
        question_count=22,
        minutes=(10, 15),
    )
    stored = message_activity(invitation_card(view))

    assert incoming.serialize() == type(incoming).deserialize(INVOKE).serialize()
    assert fast_activity_json(reply, serializer) == serializer.body(copy.copy(reply), "Activity")
    assert activity_from_json(stored).serialize() == type(incoming).deserialize(stored).serialize()
    converted = {**INVOKE, "text": 5}  # msrest converts it to "5": not the fast path's to guess
    assert activity_from_json(converted).serialize() == incoming.deserialize(converted).serialize()

    rows = [
        (
            "read the answer's invoke (timestamp incl.)",
            best_mean_us(lambda: type(incoming).deserialize(INVOKE), args.repeat),
            best_mean_us(lambda: activity_from_json(INVOKE), args.repeat),
        ),
        (
            "write the question-card reply",
            best_mean_us(lambda: serializer.body(reply, "Activity"), args.repeat),
            best_mean_us(lambda: fast_activity_json(reply, serializer), args.repeat),
        ),
        (
            "read a stored invitation (outbox)",
            best_mean_us(lambda: type(incoming).deserialize(stored), args.repeat),
            best_mean_us(lambda: activity_from_json(stored), args.repeat),
        ),
        (
            "read an invoke msrest must convert (fallback)",
            best_mean_us(lambda: type(incoming).deserialize(converted), args.repeat),
            best_mean_us(lambda: activity_from_json(converted), args.repeat),
        ),
    ]
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")
    print(f"{'activity':44} {'msrest us':>10} {'ours us':>10} {'x':>6}")
    for name, slow, fast in rows:
        print(f"{name:44} {slow:10.1f} {fast:10.1f} {slow / fast:6.1f}")


if __name__ == "__main__":
    main()
