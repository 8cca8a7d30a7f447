"""The outbox sender against the fake Bot Connector, which enforces Teams' rate limits.

Time is virtual: the sender's monotonic clock, its sleeps, the fake's windows and the database's
`now` are all the conftest `clock`, which moves only when the sender waits for the rate limiter
or the test moves it to the next due row. So the real limits (7/s, 8/2 s, 60/30 s, 1,800/h per
conversation, 50/s per tenant) apply, and no test sleeps on the wall clock for the bot.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import logging
import math
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from botbuilder.schema import ChannelAccount, ConversationAccount, ConversationReference
from msrest.exceptions import HttpOperationError
from sqlmodel import Session, select

from bot.adapter import sdk_authentication
from bot.config import Settings, load_settings
from bot.sender.answers import classify, parse_retry_after
from bot.sender.limits import LimitKey, Permit, RateLimiter, RateLimits
from bot.sender.outbox_sender import OutboxSender
from bot.turns import TurnsInFlight
from impact.service import CONTEXT_KEY, LIMITER_KEY, create_app
from store import outbox, outbox_outcomes
from store.db import Database
from store.outbox import OutboxMessage, Target
from store.people import ConversationRef, Person
from store.rounds.steps import cancel_nudges
from store.rounds.tables import Round
from tests.conftest import Clock
from tests.fakes.connector import Failure, FakeConnector, TeamsLimits

pytestmark = pytest.mark.service

BOT = "28:impact-bot"
T1, T2 = "tenant-one", "tenant-two"


class VirtualTime:
    """Monotonic seconds and sleep on the test's clock (microsecond steps, never backwards)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.start = clock.now

    def monotonic(self) -> float:
        return (self.clock.now - self.start) / timedelta(seconds=1)

    async def sleep(self, seconds: float) -> None:
        target = self.start + timedelta(
            microseconds=math.ceil((self.monotonic() + max(seconds, 0.0)) * 1e6)
        )
        self.clock.now = max(self.clock.now, target)
        await asyncio.sleep(0)


@pytest.fixture
def vtime(clock: Clock) -> VirtualTime:
    return VirtualTime(clock)


@pytest.fixture
async def teams(vtime: VirtualTime) -> AsyncIterator[FakeConnector]:
    """The fake connector with Teams' limits, 5% random 429s (Retry-After 1 s) and 2% 503s."""
    fake = FakeConnector(
        limits=TeamsLimits(),
        clock=vtime.monotonic,
        throttle_share=0.05,
        unavailable_share=0.02,
        retry_after=1.0,
        seed=7,
    )
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def make_sender(
    db: Database, clock: Clock, vtime: VirtualTime
) -> AsyncIterator[Callable[..., OutboxSender]]:
    made: list[OutboxSender] = []

    def make(**overrides: Any) -> OutboxSender:
        settings = load_settings(database_url=db.url, app_id="")
        options: dict[str, Any] = {
            "app_id": "",
            "limits": RateLimits.from_settings(settings),
            "retry_hours": settings.send_retry_hours,
            "backoff_base_seconds": 1.0,
            "backoff_cap_seconds": 8.0,
            "lease_seconds": 3600.0,  # virtual time jumps while the limiter waits
            "clock": clock,
            "monotonic": vtime.monotonic,
            "sleep": vtime.sleep,
            "rng": random.Random(3),
            "owner": "test-sender",
        }
        options.update(overrides)
        sender = OutboxSender(db, sdk_authentication(settings), **options)
        made.append(sender)
        return sender

    yield make
    for sender in made:
        await sender.aclose()


async def drain(sender: OutboxSender, db: Database, clock: Clock, rounds: int = 2000) -> None:
    """Drain until nothing is pending, moving the clock to the next due row when idle."""
    for _ in range(rounds):
        result = await sender.drain_once()
        if result.pending == 0:
            return
        if result.claimed == 0:
            due = db.run_sync(lambda s: outbox.next_due(s, clock.now))
            assert due is not None
            clock.now = max(clock.now + timedelta(milliseconds=1), due)
    raise AssertionError("the outbox did not drain")


def add_person(
    db: Database, clock: Clock, user: str, tenant: str, *, chat: str | None, url: str = ""
) -> int:
    def work(session: Session) -> int:
        person = Person(
            tenant_id=tenant, teams_user_id=user, name=user, created_at=clock.now,
            updated_at=clock.now,
        )  # fmt: skip
        session.add(person)
        session.flush()
        assert person.id is not None
        if chat is not None:
            session.add(
                ConversationRef(
                    conversation_id=chat, scope="personal", person_id=person.id, tenant_id=tenant,
                    service_url=url, reference='{"from": "the bot handler"}',
                    updated_at=clock.now,
                )
            )  # fmt: skip
        return person.id

    return db.run_sync(work)


def enqueue(
    db: Database,
    clock: Clock,
    key: str,
    target: Target,
    tenant: str,
    *,
    person_id: int | None = None,
    round_id: int | None = None,
    text: str | None = None,
) -> None:
    assert db.run_sync(
        lambda s: outbox.enqueue(
            s, dedupe_key=key, kind="invitation", tenant_id=tenant, target=target,
            activity={"type": "message", "text": text or key}, now=clock.now,
            person_id=person_id, round_id=round_id,
        )
    )  # fmt: skip


def person_target(fake: FakeConnector, user: str, tenant: str) -> Target:
    return Target.person(user_id=user, tenant_id=tenant, service_url=fake.url, bot_id=BOT)


def rows(db: Database) -> dict[str, OutboxMessage]:
    return {r.dedupe_key: r for r in db.run_sync(lambda s: s.exec(select(OutboxMessage)).all())}


def make_round(db: Database, clock: Clock) -> int:
    def work(session: Session) -> int:
        item = Round(
            name="Winter", framework_id="nhs-impact", framework_version="1", status="open",
            opens_at=clock.now, closes_at=clock.now + timedelta(days=14), created_by="cli:test",
            created_at=clock.now, updated_at=clock.now,
        )  # fmt: skip
        session.add(item)
        session.flush()
        assert item.id is not None
        return item.id

    return db.run_sync(work)


def over_limit(times: list[float], windows: tuple[tuple[int, float], ...]) -> bool:
    """Did any sliding window (half-open, as Teams counts) hold more than its limit?"""
    times = sorted(times)
    for count, seconds in windows:
        for i in range(len(times) - count):
            if times[i + count] - times[i] < seconds:
                return True
    return False


# -- the whole picture ----------------------------------------------------------------------


async def test_300_messages_are_sent_exactly_once_within_teams_limits(
    db: Database, clock: Clock, teams: FakeConnector, make_sender: Callable[..., OutboxSender]
) -> None:
    expected: dict[str, str] = {}  # dedupe key -> conversation it must arrive in
    # 10 channels with 12 messages each: the per-conversation windows bind.
    for c in range(10):
        channel = f"19:channel-{c}@thread.tacv2"
        teams.add_conversation(channel, tenant_id=T1 if c % 2 else T2)
        for m in range(12):
            key = f"channel:{c}:{m}"
            tenant = T1 if c % 2 else T2
            enqueue(db, clock, key, Target.conversation(channel, teams.url), tenant)
            expected[key] = channel
    # 90 people with a stored 1:1 chat, 90 without (first contact: create, then send).
    first_contact: dict[str, str] = {}
    for p in range(180):
        user, tenant = f"29:user-{p}", T1 if p % 3 else T2
        chat = f"a:chat-{p}" if p < 90 else None
        if chat is not None:
            teams.add_conversation(chat, [{"id": user}], tenant_id=tenant)
        person_id = add_person(db, clock, user, tenant, chat=chat, url=teams.url)
        key = f"invite:{p}"
        enqueue(db, clock, key, person_target(teams, user, tenant), tenant, person_id=person_id)
        if chat is None:
            first_contact[key] = user
        else:
            expected[key] = chat
    assert len(expected) + len(first_contact) == 300

    await drain(make_sender(), db, clock)

    for key, user in first_contact.items():
        tenant = T1 if int(key.split(":")[1]) % 3 else T2
        chat = teams.personal_chat(tenant, user)
        assert chat is not None, key
        expected[key] = chat
    seen = Counter(
        (call.conversation_id, call.body.get("text"))
        for call in teams.calls
        if call.kind == "send" and call.status == 201
    )
    assert seen == Counter({(chat, key): 1 for key, chat in expected.items()})
    assert {r.status for r in rows(db).values()} == {"sent"}
    assert teams.violations == []
    assert teams.throttled > 0
    assert teams.unavailable > 0  # both retry paths were taken
    assert teams.accepted("create") == 90  # a create is never repeated once it succeeded
    # Every first contact's chat is stored for next time.
    refs = db.run_sync(
        lambda s: {
            r.conversation_id
            for r in s.exec(select(ConversationRef).where(ConversationRef.person_id != None))  # noqa: E711
        }
    )
    assert {expected[key] for key in first_contact} <= refs
    # The limits bound: 12 messages in one conversation cannot go out within 2 seconds.
    for c in range(10):
        channel = f"19:channel-{c}@thread.tacv2"
        times = [
            call.at
            for call in teams.calls
            if call.conversation_id == channel and call.kind == "send"
        ]
        assert not over_limit(times, TeamsLimits().per_conversation)
        assert max(times) - min(times) >= 2.0


async def test_first_contact_creates_the_chat_stores_it_and_uses_it_next_time(
    db: Database, clock: Clock, make_sender: Callable[..., OutboxSender]
) -> None:
    fake = FakeConnector()
    await fake.start()
    try:
        person_id = add_person(db, clock, "29:sam", T1, chat=None)
        target = person_target(fake, "29:sam", T1)
        enqueue(db, clock, "round:1:invite", target, T1, person_id=person_id)
        sender = make_sender()
        await drain(sender, db, clock)

        [create] = [c for c in fake.calls if c.kind == "create"]
        body = create.body
        assert body["bot"]["id"] == BOT
        assert [m["id"] for m in body["members"]] == ["29:sam"]
        assert body["isGroup"] is False
        assert body["tenantID"] == T1
        assert body["channelData"] == {"tenant": {"id": T1}}
        chat = fake.personal_chat(T1, "29:sam")
        [send] = [c for c in fake.calls if c.kind == "send"]
        assert send.conversation_id == chat
        assert send.body["text"] == "round:1:invite"
        assert send.body["conversation"]["id"] == chat
        assert send.body["from"]["id"] == BOT

        ref = db.run_sync(lambda s: s.exec(select(ConversationRef)).one())
        assert (ref.conversation_id, ref.person_id, ref.scope) == (chat, person_id, "personal")
        reference = json.loads(ref.reference)
        assert reference["conversation"]["id"] == chat
        assert reference["user"]["id"] == "29:sam"
        assert reference["serviceUrl"] == fake.url

        enqueue(db, clock, "round:1:nudge", target, T1, person_id=person_id)
        await drain(sender, db, clock)
        assert [c.kind for c in fake.calls] == ["create", "send", "send"]
        assert fake.calls[-1].conversation_id == chat
    finally:
        await fake.stop()


async def test_a_person_without_a_person_id_is_found_by_their_teams_id(
    db: Database, clock: Clock, make_sender: Callable[..., OutboxSender]
) -> None:
    fake = FakeConnector()
    await fake.start()
    try:
        fake.add_conversation("a:known", [{"id": "29:kim"}], tenant_id=T1)
        add_person(db, clock, "29:kim", T1, chat="a:known", url=fake.url)
        enqueue(db, clock, "notice", person_target(fake, "29:kim", T1), T1)
        await drain(make_sender(), db, clock)
        assert [(c.kind, c.conversation_id) for c in fake.calls] == [("send", "a:known")]
        # The reference the bot stored from Kim's own activity is kept as it was.
        ref = db.run_sync(lambda s: s.exec(select(ConversationRef)).one())
        assert ref.reference == '{"from": "the bot handler"}'
    finally:
        await fake.stop()


# -- failures ---------------------------------------------------------------------------------


async def test_permanent_failures_are_recorded_once_and_dead_chats_forgotten(
    db: Database,
    clock: Clock,
    make_sender: Callable[..., OutboxSender],
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeConnector()
    await fake.start()
    try:
        round_id = make_round(db, clock)
        people: dict[str, int] = {}
        for name, chat in [
            ("blocked", "a:blocked"),
            ("gone", "a:gone"),  # never existed at the fake: 404 ConversationNotFound
            ("big", "a:big"),
            ("bad", "a:bad"),
            ("fine", "a:fine"),
        ]:
            if name != "gone":
                fake.add_conversation(chat, [{"id": f"29:{name}"}], tenant_id=T1)
            people[name] = add_person(db, clock, f"29:{name}", T1, chat=chat, url=fake.url)
        people["disabled"] = add_person(db, clock, "29:disabled", T1, chat=None)
        fake.add_conversation("19:team@thread.tacv2", tenant_id=T1)
        fake.fail_conversation("a:blocked", Failure(403, "ConversationBlockedByUser"))
        fake.fail_conversation("a:bad", Failure(400, "BadArgument"))
        fake.fail_conversation("19:team@thread.tacv2", Failure(403, "BotNotInConversationRoster"))
        fake.fail_create_for("29:disabled", Failure(403, "BotDisabledByAdmin"))

        for name, person_id in people.items():
            text = "x" * 50_000 if name == "big" else None
            target = person_target(fake, f"29:{name}", T1)
            enqueue(db, clock, name, target, T1, person_id=person_id, round_id=round_id, text=text)
        enqueue(
            db, clock, "team", Target.conversation("19:team@thread.tacv2", fake.url), T1,
            round_id=round_id,
        )  # fmt: skip

        with caplog.at_level(logging.INFO, logger="bot.sender.outbox_sender"):
            await drain(make_sender(), db, clock)

        failed = {f.dedupe_key: f for f in db.run_sync(lambda s: outbox.failures(s, round_id))}
        assert {key: (f.status, f.error.split(":")[0]) for key, f in failed.items()} == {
            "blocked": (403, "ConversationBlockedByUser"),
            "gone": (404, "ConversationNotFound"),
            "big": (413, "MessageSizeTooBig"),
            "bad": (400, "BadArgument"),
            "disabled": (403, "BotDisabledByAdmin"),
            "team": (403, "BotNotInConversationRoster"),
        }
        assert all(f.attempts == 1 for f in failed.values())  # none of these is retried
        counts = db.run_sync(lambda s: outbox.status_counts(s, round_id))
        assert counts == {"pending": 0, "sent": 1, "failed": 6, "cancelled": 0}
        # One request each, no retries, neither ours nor msrest's.
        assert Counter(c.conversation_id for c in fake.calls if c.kind == "send") == Counter(
            {
                "a:blocked": 1,
                "a:gone": 1,
                "a:big": 1,
                "a:bad": 1,
                "a:fine": 1,
                "19:team@thread.tacv2": 1,
            }
        )
        # Blocked and gone chats are forgotten; the others are kept.
        refs = db.run_sync(lambda s: set(s.exec(select(ConversationRef.conversation_id)).all()))
        assert refs == {"a:big", "a:bad", "a:fine"}
        # Too big is our bug: an error in the log. Blocked people are not errors.
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert "too big" in errors[0].getMessage()
        assert "big" in errors[0].getMessage()
    finally:
        await fake.stop()


async def test_transient_failures_are_retried_with_backoff_until_max_attempts(
    db: Database, clock: Clock, make_sender: Callable[..., OutboxSender]
) -> None:
    fake = FakeConnector()
    await fake.start()
    try:
        fake.add_conversation("a:flaky", tenant_id=T1)
        fake.add_conversation("a:down", tenant_id=T1)
        for status, code in [
            (503, "ServiceUnavailable"),
            (502, "BadGateway"),
            (412, "PreconditionFailed"),
        ]:
            fake.fail_next(1, Failure(status, code, kinds=frozenset({"send"})))
        enqueue(db, clock, "flaky", Target.conversation("a:flaky", fake.url), T1)
        sender = make_sender(max_attempts=3)
        started = clock.now

        await sender.drain_once()
        flaky = rows(db)["flaky"]
        assert (flaky.status, flaky.attempts, flaky.last_status) == ("pending", 1, 503)
        assert flaky.last_error == "ServiceUnavailable: injected ServiceUnavailable"
        # exactly one request for that attempt: msrest did not retry the 503 on its own
        assert [c.status for c in fake.calls] == [503]
        await drain(sender, db, clock)
        flaky = rows(db)["flaky"]
        # 503, 502, then the third attempt fails 412: that was the last one allowed
        assert (flaky.status, flaky.attempts, flaky.last_status) == ("failed", 3, 412)
        assert [c.status for c in fake.calls] == [503, 502, 412]
        assert clock.now > started  # waited for the back-off (virtual time)

        fake.fail_conversation("a:down", Failure(504, "GatewayTimeout"))
        enqueue(db, clock, "down", Target.conversation("a:down", fake.url), T1)
        await drain(make_sender(max_attempts=4), db, clock)
        down = rows(db)["down"]
        assert (down.status, down.attempts, down.last_status) == ("failed", 4, 504)
        assert sum(1 for c in fake.calls if c.conversation_id == "a:down") == 4
    finally:
        await fake.stop()


async def test_a_429_is_honoured_and_pauses_that_conversation(
    db: Database, clock: Clock, vtime: VirtualTime, make_sender: Callable[..., OutboxSender]
) -> None:
    fake = FakeConnector(clock=vtime.monotonic)
    await fake.start()
    try:
        fake.add_conversation("a:busy", tenant_id=T1)
        fake.fail_next(1, Failure(429, "Throttled", retry_after=30, kinds=frozenset({"send"})))
        enqueue(db, clock, "first", Target.conversation("a:busy", fake.url), T1)
        sender = make_sender()
        await sender.drain_once()
        first = rows(db)["first"]
        assert (first.attempts, first.last_status, first.last_error) == (
            1,
            429,
            "Throttled: injected Throttled",
        )
        throttled_at = fake.calls[0].at
        assert outbox.utc(first.not_before) >= clock.now + timedelta(seconds=29)

        # Another message to the same conversation waits out the Retry-After too.
        enqueue(db, clock, "second", Target.conversation("a:busy", fake.url), T1)
        await drain(sender, db, clock)
        sends = [c for c in fake.calls if c.status == 201]
        assert sorted(c.body["text"] for c in sends) == ["first", "second"]
        assert min(c.at for c in sends) >= throttled_at + 30
    finally:
        await fake.stop()


async def test_a_network_error_is_retried(
    db: Database, clock: Clock, make_sender: Callable[..., OutboxSender]
) -> None:
    enqueue(db, clock, "k", Target.conversation("a:x", "http://127.0.0.1:9/"), T1)
    started = time.perf_counter()
    await make_sender().drain_once()
    # msrest's default policy would have tried to connect 3 more times, with 0.8 s, 1.6 s, 3.2 s
    # of back-off in between; ours reports the first refusal at once and retries it itself.
    assert time.perf_counter() - started < 2.0
    row = rows(db)["k"]
    assert (row.status, row.attempts, row.last_status) == ("pending", 1, None)
    assert row.last_error is not None
    assert row.last_error.startswith("NetworkError")


async def test_a_row_that_would_wait_longer_than_its_lease_goes_back_unsent(
    db: Database, clock: Clock, vtime: VirtualTime, make_sender: Callable[..., OutboxSender]
) -> None:
    fake = FakeConnector(clock=vtime.monotonic)
    await fake.start()
    try:
        fake.add_conversation("a:slow", tenant_id=T1)
        for n in range(2):
            enqueue(db, clock, f"m{n}", Target.conversation("a:slow", fake.url), T1)
        sender = make_sender(
            limits=RateLimits(per_conversation=((1, 10.0),)),
            lease_seconds=20.0,
            request_timeout_seconds=15.0,
            lease_margin_seconds=2.0,
        )
        before = clock.now
        result = await sender.drain_once()
        assert result.claimed == 2
        second = rows(db)["m1"]
        # not sent, no attempt counted, lease given back, due when the window has room
        assert (second.status, second.attempts, second.lease_owner) == ("pending", 0, None)
        assert outbox.utc(second.not_before) >= before + timedelta(seconds=9)
        assert [c.body["text"] for c in fake.calls] == ["m0"]
        await drain(sender, db, clock)
        assert [c.body["text"] for c in fake.calls] == ["m0", "m1"]
    finally:
        await fake.stop()


async def test_a_row_still_in_flight_here_is_not_leased_by_the_next_claim(
    db: Database, clock: Clock, make_sender: Callable[..., OutboxSender]
) -> None:
    """A delivery records its outcome (a retry due now: pending, its lease cleared) and lets the
    row go a moment later. A claim in between must leave the row alone: leasing it then, and
    skipping it as still in flight, held it unsent for a whole lease (a sender draining until
    empty hung for 30 s in tests/faults under load)."""
    enqueue(db, clock, "k", Target.conversation("a:x", "http://127.0.0.1:9/"), T1)
    row_id = rows(db)["k"].id
    assert row_id is not None
    sender = make_sender()
    sender._held.add(row_id)  # its task has recorded the outcome, not yet let it go

    jobs, next_due, pending = await sender._claim(clock.now, 10)

    assert jobs == []
    assert (pending, next_due is not None) == (1, True)  # still due: the loop looks again soon
    row = rows(db)["k"]
    assert (row.lease_owner, row.lease_until) == (None, None)
    sender._held.discard(row_id)
    jobs, _next_due, _pending = await sender._claim(clock.now, 10)
    assert [job.row.id for job in jobs] == [row_id]


async def test_a_row_cancelled_while_it_is_sent_is_not_reported_as_a_lost_lease(
    db: Database,
    clock: Clock,
    make_sender: Callable[..., OutboxSender],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A closing round cancels its pending nudges, those being sent included: the sender's
    outcome then finds the row no longer its own, and says why (INFO), not that another process
    took it over (WARNING). A row another process took over is still a WARNING."""

    def nudge(key: str, session: Session) -> bool:
        return outbox.enqueue(
            session, dedupe_key=key, kind="nudge", tenant_id=T1,
            target=Target.conversation("a:x", "http://127.0.0.1:9/"),
            activity={"type": "message", "text": key}, now=clock.now,
        )  # fmt: skip

    for key in ("cancelled", "taken"):
        assert db.run_sync(functools.partial(nudge, key))
    sender = make_sender()
    jobs, _next_due, _pending = await sender._claim(clock.now, 10)
    claimed = {job.row.dedupe_key: job.row for job in jobs}
    assert set(claimed) == {"cancelled", "taken"}
    db.run_sync(lambda s: cancel_nudges(s, [claimed["cancelled"].id]))
    db.run_sync(
        lambda s: s.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == claimed["taken"].id)  # type: ignore[arg-type]
            .values(lease_owner="another-process")
        )
    )

    with caplog.at_level(logging.INFO, logger="bot.sender.outbox_sender"):
        for key, row in claimed.items():
            recorded = await sender._record(
                functools.partial(
                    outbox_outcomes.mark_sent, row_id=row.id, owner=sender.owner,
                    now=clock.now, activity_id=None,
                ),
                row,
                "its delivery",
            )  # fmt: skip
            assert not recorded, key

    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [level for level, text in lines if "(cancelled)" in text] == [logging.INFO]
    assert [level for level, text in lines if "(taken)" in text] == [logging.WARNING]
    assert "cancelled while it was being sent" in next(t for _l, t in lines if "(cancelled)" in t)
    assert rows(db)["cancelled"].status == "cancelled"


# -- the loop ---------------------------------------------------------------------------------


async def test_run_sends_as_soon_as_woken_and_stops_cleanly(db: Database) -> None:
    """Real time: the poll interval is long, so only `wake()` can explain a prompt send."""
    fake = FakeConnector()
    await fake.start()
    settings = load_settings(database_url=db.url, app_id="")
    sender = OutboxSender(db, sdk_authentication(settings), poll_seconds=30.0)
    stop = asyncio.Event()
    runner = asyncio.create_task(sender.run(stop))
    try:
        fake.add_conversation("a:now", tenant_id=T1)
        await asyncio.sleep(0.05)  # let it find the outbox empty and start waiting
        from store.types import utcnow

        enqueue_now = utcnow()
        db.run_sync(
            lambda s: outbox.enqueue(
                s, dedupe_key="k", kind="notice", tenant_id=T1,
                target=Target.conversation("a:now", fake.url),
                activity={"type": "message", "text": "hi"}, now=enqueue_now,
            )
        )  # fmt: skip
        sender.wake()
        await fake.wait_for(lambda: fake.received()["a:now"] == 1, within_s=5)
        stop.set()
        await asyncio.wait_for(runner, 5)
        assert rows(db)["k"].status == "sent"
    finally:
        stop.set()
        await asyncio.wait_for(runner, 5)
        await fake.stop()


async def test_a_sender_with_credentials_builds_its_own_clients_without_retries(
    db: Database,
) -> None:
    settings = load_settings(
        database_url=db.url, app_id="00000000-0000-0000-0000-000000000001", app_password="s3cret"
    )
    sender = OutboxSender.from_settings(settings, db, request_timeout_seconds=7.0)
    client = await sender.client("https://smba.trafficmanager.net/uk/")
    assert client.config.credentials.microsoft_app_id == settings.app_id
    assert client.config.base_url == "https://smba.trafficmanager.net/uk/"
    # requests (with msrest's urllib3 retries) is replaced by the adapter's aiohttp transport,
    # which never retries on its own: every retry is the sender's, counted.
    from bot.adapter import AioHttpSender

    assert isinstance(client.config.pipeline._sender, AioHttpSender)
    assert client.config.connection.timeout == 7.0
    await sender.aclose()
    assert await sender.client("https://smba.trafficmanager.net/uk/") is client
    local = OutboxSender.from_settings(load_settings(database_url=db.url, app_id=""), db)
    assert not (await local.client("http://127.0.0.1:1/")).config.credentials.microsoft_app_id
    await sender.aclose()
    await local.aclose()


# -- the limiter and the SDK's errors ---------------------------------------------------------


async def test_the_limiter_keeps_every_sliding_window(clock: Clock) -> None:
    vt = VirtualTime(clock)
    limiter = RateLimiter(clock=vt.monotonic, sleep=vt.sleep)
    limits = RateLimits()
    times: list[float] = []
    tenant = limiter.key("tenant:t", limits.per_tenant)
    for n in range(130):
        conversation = limiter.key("conversation:c", limits.per_conversation)
        permit = await limiter.acquire([conversation, tenant], max_wait=3600)
        assert isinstance(permit, Permit)
        times.append(vt.monotonic())
        if n % 3 == 0:
            await vt.sleep(0.01)  # a request takes a while
        permit.finish()
    assert not over_limit(times, limits.per_conversation)
    # And it is not slower than it must be: the earliest each could go if requests took no
    # time (8 per 2 s sets the pace, then 60 per 30 s holds the 61st and the 121st back).
    ideal: list[float] = []
    for _ in range(130):
        ideal.append(
            max([0.0] + [ideal[-n] + w for n, w in limits.per_conversation if len(ideal) >= n])
        )
    assert ideal[-1] == pytest.approx(62.0)
    assert times[-1] <= ideal[-1] + 0.1


async def test_a_key_is_one_object_for_the_collector_however_much_it_has_counted(
    clock: Clock,
) -> None:
    """Fault (the trust benchmark, 15,000 people): the budget keeps each chat's key for an hour,
    and each key's two deques were containers the garbage collector walked, 45,000 objects in
    the service's collections (24 MB). Outcome: the times are kept in
    untracked arrays, trimmed to what a window can still need, and the windows still hold."""
    vt = VirtualTime(clock)
    limiter = RateLimiter(RateLimits(per_tenant=((8, 1.0),)), clock=vt.monotonic, sleep=vt.sleep)
    tenant = limiter.tenant("t")
    other = limiter.tenant("u")
    chat = limiter.conversation("c")
    for key in (tenant, chat):  # no container of its own: only its class and shared windows
        tracked = [v for v in gc.get_referents(key) if gc.is_tracked(v)]
        assert all(v is LimitKey or v is key.windows for v in tracked), tracked
    finished: list[float] = []
    for _ in range(1000):
        permit = await limiter.acquire([tenant], max_wait=10)
        assert isinstance(permit, Permit)
        permit.finish()
        finished.append(vt.monotonic())
    for _ in range(200):
        vt_now = vt.monotonic()
        limiter.throttled(chat, other, 0.0)
        await vt.sleep(1.0)  # one a second: never a burst
        assert other.paused_until <= vt_now
    assert 8 <= tenant.completions < 16, "only what the largest window can need is kept"
    assert list(tenant.done[-8:]) == finished[-8:]
    assert 64 <= other.throttles_since(0.0) < 128, "the latest 64 429s at least, not all"
    assert other.throttles_since(vt.monotonic() - 1.5) == 1
    assert not over_limit(finished, ((8, 1.0),))
    # the 9th request still waits for the 8th latest to leave the window
    assert limiter.delay(tenant, vt.monotonic()) == pytest.approx(
        finished[-8] + 1.0 + 0.001 - vt.monotonic()
    )


async def test_keys_nothing_needs_are_forgotten_least_recently_used_first_a_few_at_a_time(
    clock: Clock,
) -> None:
    """Fault (trust_scale --loop-stacks, 15,000 people): the limiter looked at every key it
    kept every 4,096 requests to forget the unused ones, 20-33 ms of the event loop each time.
    Outcome: keys are kept least recently used first, and a look stops at the first still
    needed and at `PRUNE_AT_MOST` keys; a key in use or with a request in its windows stays."""
    vt = VirtualTime(clock)
    limits = RateLimits(per_conversation=((1000, 10.0),), per_tenant=((10_000, 1.0),))
    limiter = RateLimiter(limits, clock=vt.monotonic, sleep=vt.sleep)
    limiter.PRUNE_EVERY, limiter.PRUNE_AT_MOST = 1_000_000, 100  # looks made by hand below

    async def request(*names: str) -> None:
        keys = [limiter.tenant("t"), *(limiter.conversation(n) for n in names)]
        permit = await limiter.acquire(keys, max_wait=0)
        assert isinstance(permit, Permit)
        permit.finish()

    for n in range(300):
        await request(f"old-{n}")
    await vt.sleep(5)
    held = await limiter.acquire([limiter.conversation("in-flight")], max_wait=0)
    await request("old-0")  # used again: now among the most recent
    await vt.sleep(20)  # past every window of the 299 others (and of the one in flight)
    await request("recent")
    assert len(limiter) == 303  # the tenant, 300 old, the one in flight, the recent one
    limiter._prune(vt.monotonic())
    assert len(limiter) == 203, "at most 100 looked at"
    limiter._prune(vt.monotonic())
    limiter._prune(vt.monotonic())
    # the 299 old ones are gone; each look stopped at the one in flight, used before the rest
    assert len(limiter) == 4
    assert limiter.conversation("old-0").completions == 2, "the same key, behind the one in flight"
    assert isinstance(held, Permit)
    held.finish()
    await vt.sleep(20)
    await request()
    limiter._prune(vt.monotonic())
    assert len(limiter) == 1, "only the tenant, just used"


async def test_the_limiter_counts_requests_in_flight(clock: Clock) -> None:
    vt = VirtualTime(clock)
    limiter = RateLimiter(clock=vt.monotonic, sleep=vt.sleep)
    key = limiter.key("tenant:t", ((2, 1.0),))
    first = await limiter.acquire([key], max_wait=10)
    second = await limiter.acquire([key], max_wait=10)
    assert isinstance(first, Permit)
    assert isinstance(second, Permit)
    third = asyncio.create_task(limiter.acquire([key], max_wait=10))
    await asyncio.sleep(0.01)
    assert not third.done()  # both slots are taken until a request finishes
    await vt.sleep(5)  # however long they take
    first.finish()
    permit = await asyncio.wait_for(third, 1)
    assert isinstance(permit, Permit)
    assert vt.monotonic() >= 6.0  # and then a full window after it finished


async def test_a_429_pauses_the_conversation_and_a_burst_pauses_the_tenant(clock: Clock) -> None:
    vt = VirtualTime(clock)
    limiter = RateLimiter(clock=vt.monotonic, sleep=vt.sleep)
    tenant = limiter.key("tenant:t", ((50, 1.0),))
    chat = limiter.key("conversation:a", RateLimits().per_conversation)
    other = limiter.key("conversation:b", RateLimits().per_conversation)
    limiter.throttled(chat, tenant, 5.0)
    assert limiter.delay(chat, vt.monotonic()) == pytest.approx(5.0)
    assert limiter.delay(tenant, vt.monotonic()) <= 0  # one 429 is not the tenant's
    assert await limiter.acquire([chat, tenant], max_wait=1) == pytest.approx(5.0)
    for _ in range(9):
        limiter.throttled(other, tenant, 3.0)
    assert limiter.delay(tenant, vt.monotonic()) == pytest.approx(3.0)  # ten within a second


async def test_one_key_is_one_budget_a_second_with_other_windows_is_refused(
    clock: Clock,
) -> None:
    """Fault: two users of one limiter count the same tenant in different windows (the service's
    Teams reads with Teams' limits, a sender with its own). Each new key used to replace the
    other's, so the requests already made in the window were forgotten and Teams saw more than
    its limit. Outcome: the second is refused; the first keeps its count."""
    vt = VirtualTime(clock)
    limiter = RateLimiter(RateLimits(per_tenant=((2, 1.0),)), clock=vt.monotonic, sleep=vt.sleep)
    tenant = limiter.tenant("t")
    for _ in range(2):
        permit = await limiter.acquire([tenant], max_wait=0)
        assert isinstance(permit, Permit)
        permit.finish()
    with pytest.raises(ValueError, match="one budget"):
        limiter.key("tenant:t", ((250, 1.0),))
    assert limiter.key("tenant:t", ((2, 1.0),)) is tenant
    assert limiter.delay(tenant, vt.monotonic()) > 0.99  # still full for a second


def test_on_sqlite_a_group_of_outcomes_is_small_enough_for_the_write_lock(db: Database) -> None:
    """Outcomes that arrive together are written in one transaction (store.group_commit), but on
    SQLite, whose one write lock every answer needs, at most 16 of them: a group of 64 held it
    65 ms in the trust benchmark. PostgreSQL locks rows, not the database."""
    sender = OutboxSender.from_settings(load_settings(database_url=db.url, app_id=""), db)
    assert sender.writes.most == (16 if db.is_sqlite else 64)


def test_a_sender_refuses_a_limiter_that_keeps_other_limits(db: Database) -> None:
    settings = load_settings(database_url=db.url, app_id="")
    limiter = RateLimiter(RateLimits.from_settings(settings))
    sender = OutboxSender.from_settings(settings, db, limiter=limiter)
    assert sender.limiter is limiter
    with pytest.raises(ValueError, match="the limiter keeps"):
        OutboxSender.from_settings(settings, db, scale=5, limiter=limiter)


async def test_roster_reads_then_a_fan_out_keep_the_tenants_limit(
    db: Database, clock: Clock, settings_factory: Callable[..., Settings]
) -> None:
    """Fault (the trust benchmark at 600 and 3,000 people: 12 and 10 requests over the
    tenant's limit): a round opens, its rosters are read, and the invitations go out at once,
    within the second. The service's roster reads counted in one budget and a sender built
    beside the service in another, so Teams saw the reads plus a full second of sends.
    Outcome: the sender of the service's process counts in the service's budget
    (app[LIMITER_KEY]); the fake, enforcing the same limit, sees no request over it. Real
    time: the service's limiter runs on the monotonic clock (the test takes about 2 s)."""
    limit = 10
    fake = FakeConnector(limits=TeamsLimits(per_tenant=((limit, 1.0),)))
    await fake.start()
    settings = settings_factory(per_tenant_per_second=limit)
    app = create_app(settings, db=db, clock=clock)
    sender = OutboxSender.from_settings(settings, db, clock=clock, limiter=app[LIMITER_KEY])
    try:
        teams = [f"19:team-{t}@thread.tacv2" for t in range(limit // 2)]
        for n, team in enumerate(teams):
            fake.add_conversation(team, [{"id": f"29:member-{n}"}], tenant_id=T1)
            reference = ConversationReference(
                bot=ChannelAccount(id=BOT), channel_id="msteams", service_url=fake.url,
                conversation=ConversationAccount(
                    id=team, tenant_id=T1, is_group=True, conversation_type="channel"
                ),
            )  # fmt: skip
            reference_json = json.dumps(reference.serialize())
            assert len(await app[CONTEXT_KEY].teams.roster(team, reference_json, T1)) == 1
        for n in range(limit):
            chat = f"a:chat-{n}"
            fake.add_conversation(chat, tenant_id=T1)
            person_id = add_person(db, clock, f"29:person-{n}", T1, chat=chat, url=fake.url)
            target = person_target(fake, f"29:person-{n}", T1)
            enqueue(db, clock, f"invite:{n}", target, T1, person_id=person_id)
        await drain(sender, db, clock)
    finally:
        await sender.aclose()
        await fake.stop()
    assert [v.describe() for v in fake.violations] == []
    assert fake.requests == Counter({"members": len(teams), "send": limit})
    assert {r.status for r in rows(db).values()} == {"sent"}


def test_retry_after_is_seconds_or_an_http_date() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Wed, 25 Nov 2026 10:00:30 GMT", now) == 30.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("nan") is None


async def test_status_code_and_retry_after_come_from_the_sdks_exception() -> None:
    """What send_to_conversation raises for Teams' error body, read as the sender reads it."""
    fake = FakeConnector()
    await fake.start()
    try:
        fake.add_conversation("a:c", tenant_id=T1)
        fake.fail_next(1, Failure(429, "Throttled", retry_after=2.5))
        settings = load_settings(database_url="sqlite://", app_id="")
        sender = OutboxSender(Database("sqlite://"), sdk_authentication(settings))
        client = await sender.client(fake.url)
        from botbuilder.schema import Activity

        with pytest.raises(HttpOperationError) as raised:
            await client.conversations.send_to_conversation(
                "a:c", Activity(type="message", text="hi")
            )
        problem = classify(raised.value)
        assert (problem.status, problem.code, problem.retry_after) == (429, "Throttled", 2.5)
        assert problem.transient

        with pytest.raises(HttpOperationError) as raised:
            await client.conversations.send_to_conversation(
                "a:nowhere", Activity(type="message", text="hi")
            )
        problem = classify(raised.value)
        assert (problem.status, problem.code, problem.retry_after) == (
            404,
            "ConversationNotFound",
            None,
        )
        assert not problem.transient
    finally:
        await fake.stop()


async def test_the_senders_connector_clients_are_a_bounded_cache(
    db: Database, make_sender: Callable[..., OutboxSender]
) -> None:
    """A service URL per message (a misuse, or an attack through stored references) must not
    grow the sender's clients without bound."""
    from bot.adapter import MAX_CACHED_CLIENTS

    sender = make_sender()
    for n in range(MAX_CACHED_CLIENTS + 10):
        await sender.client(f"https://smba.example/{n}/")
    assert len(sender._clients) == MAX_CACHED_CLIENTS


async def test_the_sender_gives_way_to_a_turn_in_flight_for_a_short_while_at_most(
    db: Database, clock: Clock, make_sender: Callable[..., OutboxSender]
) -> None:
    """No request starts while the service answers a person, unless the turn takes longer than
    the sender's longest wait (then it goes on, so its pace within Teams' limits holds)."""
    fake = FakeConnector()
    await fake.start()
    try:
        turns = TurnsInFlight()
        sender = make_sender(turns=turns)
        for user in ("29:sam", "29:kim"):
            person_id = add_person(db, clock, user, T1, chat=None)
            target = person_target(fake, user, T1)
            enqueue(db, clock, f"round:1:invite:{user}", target, T1, person_id=person_id)
        with turns.turn():
            draining = asyncio.ensure_future(sender.drain_once())
            await asyncio.sleep(0.03)  # less than GIVE_WAY_SECONDS
            ended = time.monotonic()
        await draining
        assert len(fake.calls) == 4
        assert min(call.at for call in fake.calls) >= ended, "nothing started during the turn"

        enqueue(db, clock, "round:1:nudge", person_target(fake, "29:sam", T1), T1)
        with turns.turn():
            started = time.monotonic()
            await sender.drain_once()  # a long turn: the sender waits once, then sends
            assert time.monotonic() - started < 1.0
        assert [c.kind for c in fake.calls[4:]] == ["send"]
    finally:
        await fake.stop()
