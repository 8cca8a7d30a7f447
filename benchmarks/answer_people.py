"""The simulated people of the answer benchmark (benchmarks/answer_roundtrip.py), shared by the
in-process client and the client process (benchmarks/answer_client.py).

A person posts Teams-shaped activities (tests/fakes/teams_client.py) to the bot's /api/messages
and checks, after every turn, that the connector shows exactly one new activity, the expected one.
In-process that is the fake connector itself, read with no `await` after the response; in the
client process it is a mirror of it that the connector's process pushes each new activity to
(`arrived` waits for that push), the way Teams shows a person a bot's message.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import aiohttp

from tests.fakes.connector import ConversationState
from tests.fakes.teams_client import TeamsUser, card_of, card_text, find_action

CARD_TYPE = "application/vnd.microsoft.card.adaptive"

# (conversation id, how many activities it must hold): returns once it holds them.
Arrival = Callable[[str, int], Awaitable[None]]


class BenchmarkError(Exception):
    """A turn or a data check did not do what it should: the figures would mean nothing."""


class Bracket(Protocol):
    """Called just before the first timed turn of the concurrent phase and just after the last
    (e.g. to profile the bot during it)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def client_session(people: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(100, 2 * people + 8)))


def echo_text(number: int, user_id: str) -> str:
    """What an echo person says in turn `number` (and must get back)."""
    return f"hello {number} from {user_id}"


def first_text(card: dict[str, Any]) -> str:
    body = card.get("body") or [{}]
    return str(body[0].get("text", ""))


def next_card_problem(number: int, questions: int, card: dict[str, Any]) -> str | None:
    """What is wrong with the card shown after answer `number` (question number + 1, or the
    review card after the last question), or None."""
    if number < questions:
        expected = f"Question {number + 1} of {questions}"
        if not first_text(card).startswith(expected):
            return f"next card reads {first_text(card)!r}, expected {expected!r}"
    elif "Check your answers" not in card_text(card):
        return f"expected the review card, got {first_text(card)!r}"
    return None


class Person:
    """One simulated person; `turn(n)` takes their n-th timed turn and returns its latency (s).

    `arrived`: None in-process (the connector is read directly, with no await after the
    response); in the client process, waits for the connector's push of the turn's reply."""

    def __init__(
        self, user: TeamsUser, session: aiohttp.ClientSession, arrived: Arrival | None = None
    ) -> None:
        self.user = user
        self.session = session
        self.arrived = arrived
        self.url = f"{user.bot_url}/api/messages"
        self.state: ConversationState = user.connector.conversations[user.conversation_id]

    async def begin(self) -> None:
        """Anything before the timed turns (not timed)."""

    async def turn(self, number: int) -> float:
        raise NotImplementedError

    async def _shown(self, before: int) -> None:
        if self.arrived is not None:
            await self.arrived(self.user.conversation_id, before + 1)

    def _new_activity(self, before: int, what: str) -> dict[str, Any]:
        """The one activity the bot sent in this turn, as the connector recorded it."""
        shown = len(self.state.order)
        if shown != before + 1:
            raise BenchmarkError(
                f"{self.user.user_id} {what}: the connector recorded {shown - before} "
                "activities in this turn, expected 1"
            )
        return self.state.activities[self.state.order[-1]]


class EchoPerson(Person):
    def __init__(self, *args: Any, lean: bool) -> None:
        super().__init__(*args)
        self.lean = lean
        self.template = self.user.activity(type="message", text="")

    async def turn(self, number: int) -> float:
        text = echo_text(number, self.user.user_id)
        before = len(self.state.order)
        if self.lean:
            activity = {**self.template, "id": f"f:{uuid.uuid4().hex}", "text": text}
            start = time.perf_counter()
            async with self.session.post(self.url, json=activity) as response:
                await response.read()
                status = response.status
            end = time.perf_counter()
        else:
            start = time.perf_counter()
            status = (await self.user.say(text)).status
            end = time.perf_counter()
        # In-process: no await since `end`, so what the connector holds now, it held when the
        # response came. Client process: wait for the connector's push first.
        if status not in (200, 201):
            raise BenchmarkError(f"echo turn {number}: HTTP {status}")
        await self._shown(before)
        reply = self._new_activity(before, f"echo turn {number}")
        if reply.get("text") != text:
            raise BenchmarkError(f"echo turn {number}: the reply was {reply.get('text')!r}")
        return end - start


class ImpactPerson(Person):
    def __init__(self, *args: Any, lean: bool, questions: int, rng: random.Random) -> None:
        super().__init__(*args)
        self.lean = lean
        self.questions = questions
        self.rng = rng
        self.sent: dict[int, int] = {}  # question number -> level sent

    async def begin(self) -> None:
        """Install the bot and press Start on its welcome card (not timed)."""
        installed = await self.user.install()
        await self._shown(0)  # the welcome card
        started = await self.user.press("Start")
        if installed.status not in (200, 201) or started.status != 200:
            raise BenchmarkError(f"install/start: HTTP {installed.status}/{started.status}")
        await self._shown(1)  # question 1
        _, card = self.user.last_card()
        if not first_text(card).startswith(f"Question 1 of {self.questions}"):
            raise BenchmarkError(f"after Start the card reads {first_text(card)!r}")

    async def turn(self, number: int) -> float:
        """Answer question `number` with "Next" and a random level."""
        level = self.rng.randint(1, 5)
        inputs = {"level": str(level), "comment": ""}
        before = len(self.state.order)
        if self.lean:
            activity = self._next_invoke(inputs)
            start = time.perf_counter()
            async with self.session.post(self.url, json=activity) as response:
                body = await response.json()
                status = response.status
            end = time.perf_counter()
        else:
            start = time.perf_counter()
            result = await self.user.press("Next", inputs)
            end = time.perf_counter()
            status, body = result.status, result.body
        # In-process: no await since `end`, so what the connector holds now, it held when the
        # response came. Client process: wait for the connector's push first.
        what = f"answer {number}"
        if status != 200 or not isinstance(body, dict) or body.get("type") != CARD_TYPE:
            raise BenchmarkError(f"{what}: HTTP {status}, body {str(body)[:200]}")
        await self._shown(before)
        card = card_of(self._new_activity(before, what)) or {}
        if (problem := next_card_problem(number, self.questions, card)) is not None:
            raise BenchmarkError(f"{what}: {problem}")
        self.sent[number] = level
        return end - start

    def _next_invoke(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The "Next" invoke for the card the bot last sent, built before the timed interval."""
        card_id = self.state.order[-1]
        card = card_of(self.state.activities[card_id]) or {}
        data = {**(find_action(card, "Next").get("data") or {}), **inputs}
        return self.user.activity(
            type="invoke",
            name="adaptiveCard/action",
            replyToId=card_id,
            value={
                "action": {"type": "Action.Execute", "verb": "answer", "data": data},
                "trigger": "manual",
            },
        )


async def take_turns(person: Person, turns: int, latencies: list[float] | None) -> None:
    for number in range(1, turns + 1):
        latency = await person.turn(number)
        if latencies is not None:
            latencies.append(latency)


async def concurrently(
    people: Sequence[Person], turns: int, bracket: Bracket | None = None
) -> tuple[list[float], float, float]:
    """All people set up (untimed), then all take their turns at once.

    Returns (latencies, wall seconds, process CPU seconds) of the timed part."""
    await asyncio.gather(*(person.begin() for person in people))
    latencies: list[float] = []
    if bracket is not None:
        await bracket.start()
    cpu = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(take_turns(person, turns, latencies) for person in people))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if bracket is not None:
        await bracket.stop()
    return latencies, wall, cpu


async def one_at_a_time(people: Sequence[Person], turns: int) -> list[float]:
    latencies: list[float] = []
    for person in people:
        await person.begin()
        await take_turns(person, turns, latencies)
    return latencies
