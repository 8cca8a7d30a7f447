"""The outbox on SQLite and PostgreSQL: a message can be queued once only, claims are disjoint
(FOR UPDATE SKIP LOCKED on PostgreSQL), a dead process's lease runs out and its rows are claimed
again, and outcomes are compare-and-set on the lease."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from store import outbox, outbox_outcomes
from store.db import Database
from store.outbox import OutboxMessage, Target
from store.people import Person
from store.rounds.tables import Round

pytestmark = pytest.mark.service

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SERVICE = "https://smba.trafficmanager.net/uk/"
CHANNEL = Target.conversation("19:general@thread.tacv2", SERVICE)


def alex(user: str = "29:alex") -> Target:
    return Target.person(user_id=user, tenant_id="tenant-1", service_url=SERVICE, bot_id="28:bot")


def queue(
    db: Database, key: str, *, at: datetime = NOW, round_id: int | None = None, **extra: Any
) -> bool:
    return db.run_sync(
        lambda s: outbox.enqueue(
            s,
            dedupe_key=key,
            kind="invitation",
            tenant_id="tenant-1",
            target=extra.pop("target", alex()),
            activity={"type": "message", "text": key},
            now=NOW,
            not_before=at,
            round_id=round_id,
            **extra,
        )
    )


def claim(db: Database, owner: str, *, now: datetime = NOW, limit: int = 10, lease: float = 60):
    """A claim at `now`, with `now` standing in for the database's clock too (the lease logic
    itself; the tests at the end check that the database's clock is what counts)."""
    return db.run_sync(
        lambda s: outbox.claim_due(
            s, owner=owner, now=now, limit=limit, lease_seconds=lease, lease_now=now
        )
    )


def row(db: Database, key: str) -> OutboxMessage:
    found = db.run_sync(
        lambda s: s.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)).one()
    )
    return found


def make_round(db: Database) -> int:
    def work(session: Session) -> int:
        item = Round(
            name="Winter",
            framework_id="nhs-impact",
            framework_version="1",
            status="open",
            opens_at=NOW,
            closes_at=NOW + timedelta(days=14),
            created_by="cli:test",
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(item)
        session.flush()
        assert item.id is not None
        return item.id

    return db.run_sync(work)


def make_person(db: Database, user: str) -> int:
    def work(session: Session) -> int:
        person = Person(
            tenant_id="tenant-1", teams_user_id=user, name=user, created_at=NOW, updated_at=NOW
        )
        session.add(person)
        session.flush()
        assert person.id is not None
        return person.id

    return db.run_sync(work)


# -- targets ------------------------------------------------------------------------------


def test_a_target_is_a_conversation_or_a_person_and_survives_json() -> None:
    for target in (CHANNEL, alex()):
        assert Target.from_json(target.to_json()) == target
    assert alex().is_person
    assert not CHANNEL.is_person
    with pytest.raises(ValueError, match="not both"):
        Target(service_url=SERVICE, conversation_id="a:1", user_id="29:x")
    with pytest.raises(ValueError, match="needs user_id"):
        Target(service_url=SERVICE, user_id="29:x")
    with pytest.raises(ValueError, match="service URL"):
        Target.conversation("a:1", "")


# -- queuing --------------------------------------------------------------------------------


def test_the_same_message_is_queued_once(db: Database) -> None:
    assert queue(db, "round:1:invite:person:1") is True
    assert queue(db, "round:1:invite:person:1") is False
    assert queue(db, "round:1:invite:person:2") is True
    keys = db.run_sync(lambda s: s.exec(select(OutboxMessage.dedupe_key)).all())
    assert sorted(keys) == ["round:1:invite:person:1", "round:1:invite:person:2"]
    stored = row(db, "round:1:invite:person:1")
    assert (stored.status, stored.attempts, stored.lease_owner) == ("pending", 0, None)


def test_many_messages_are_queued_in_one_go_each_once_in_their_order(db: Database) -> None:
    """`enqueue_many` (on PostgreSQL one array per column, unnested by the server): a key
    already queued, or twice in the batch, is queued once; the rows read back as `enqueue`
    writes them, in the batch's order, due at their own times."""
    queue(db, "nudge:2")
    later = NOW + timedelta(minutes=5)
    batch = [
        outbox.Queued(
            dedupe_key=f"nudge:{n}",
            kind="nudge",
            tenant_id="tenant-1",
            target=alex(f"29:person-{n}"),
            activity_json=outbox.activity_json({"type": "message", "text": f"é {n}"}),
            not_before=later if n == 4 else None,
        )
        for n in (1, 2, 3, 3, 4)
    ]
    assert db.run_sync(lambda s: outbox.enqueue_many(s, batch, now=NOW)) == 3
    assert db.run_sync(lambda s: outbox.enqueue_many(s, [], now=NOW)) == 0
    rows = db.run_sync(lambda s: s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())
    assert [r.dedupe_key for r in rows] == ["nudge:2", "nudge:1", "nudge:3", "nudge:4"]
    claimed = {c.dedupe_key: c for c in claim(db, "p1", now=later)}
    assert claimed["nudge:3"].activity == {"type": "message", "text": "é 3"}
    assert claimed["nudge:3"].target == alex("29:person-3")
    assert (claimed["nudge:1"].person_id, claimed["nudge:1"].team_id) == (None, None)
    assert [r.not_before for r in rows[1:]] == [NOW, NOW, later]
    assert {r.created_at for r in rows[1:]} == {NOW}


def stored_payloads(db: Database) -> dict[str, str]:
    rows = db.run_sync(lambda s: s.exec(select(OutboxMessage)).all())
    return {r.dedupe_key: r.payload for r in rows}


def queue_many_and_one_by_one(db: Database, batch: list[tuple[Target, dict[str, Any]]]) -> None:
    """Each (target, activity) queued twice: `many:<n>` in one `enqueue_many` batch,
    `single:<n>` with `enqueue` (the reference for the stored payload)."""
    many = [
        outbox.Queued(
            dedupe_key=f"many:{n}",
            kind="nudge",
            tenant_id="tenant-1",
            target=target,
            activity_json=outbox.activity_json(activity),
        )
        for n, (target, activity) in enumerate(batch)
    ]
    assert db.run_sync(lambda s: outbox.enqueue_many(s, many, now=NOW)) == len(batch)
    for n, (target, activity) in enumerate(batch):
        db.run_sync(
            lambda s, n=n, target=target, activity=activity: outbox.enqueue(
                s,
                dedupe_key=f"single:{n}",
                kind="nudge",
                tenant_id="tenant-1",
                target=target,
                activity=activity,
                now=NOW,
            )
        )


def test_a_batch_of_several_cards_stores_each_messages_own_payload(db: Database) -> None:
    """A batch shares its distinct cards among its rows (on PostgreSQL the server writes each
    payload from the row's target and its card): every row gets its own card and target, byte
    for byte what `enqueue` stores, whatever the order the cards first appear in."""
    cards = [{"type": "message", "text": f"card {c}", "n": c} for c in "abc"]
    order = [1, 0, 2, 0, 1, 2, 2, 1, 0]
    batch = [(alex(f"29:person-{n}"), cards[c]) for n, c in enumerate(order)]
    batch.append((CHANNEL, cards[1]))  # a conversation target: other fields
    queue_many_and_one_by_one(db, batch)
    stored = stored_payloads(db)
    for n, (target, activity) in enumerate(batch):
        assert stored[f"many:{n}"] == stored[f"single:{n}"]
        assert json.loads(stored[f"many:{n}"]) == {"target": target.to_json(), "activity": activity}
    claimed = {c.dedupe_key: c for c in claim(db, "p1", limit=100)}
    assert [claimed[f"many:{n}"].activity["text"] for n in range(len(order))] == [
        f"card {'abc'[c]}" for c in order
    ]


def test_postgresql_compresses_the_payloads_with_lz4(db: Database) -> None:
    """A card is over PostgreSQL's 2 kB threshold, so every payload is compressed as it is
    written: with lz4 (migration 0014), some 2.6 times less of the server's CPU than pglz."""
    if db.is_sqlite:
        pytest.skip("SQLite does not compress")
    card = {"type": "message", "text": " ".join(f"word {n}" for n in range(600))}
    queue_many_and_one_by_one(db, [(alex(), card)])
    methods = db.run_sync(
        lambda s: s.execute(
            sa.text("SELECT DISTINCT pg_column_compression(payload) FROM outbox")
        ).all()
    )
    assert methods == [("lz4",)]


def test_a_card_and_target_with_characters_to_escape_are_stored_exactly(db: Database) -> None:
    """Quotes, backslashes, a quote mark that SQL would need doubled, non-ASCII, characters
    JSON escapes and what a driver might take for a placeholder: stored byte for byte."""
    odd = "it's \"quoted\" \\ back\\slash, ' '' é ñ 漢字 🙂 \u2028 \n\t\x00 %s %(x)s $1 {} [] ?"
    card = {"type": "message", "text": odd, "attachments": [{"content": {"body": [odd, "'"]}}]}
    target = Target.person(
        user_id="29:o'brien\\x",
        tenant_id="tenant-1",
        service_url=SERVICE + "?a='b'",
        bot_id="28:bot",
    )
    queue_many_and_one_by_one(db, [(target, card), (alex(), {"type": "message", "text": "'"})])
    stored = stored_payloads(db)
    assert stored["many:0"] == stored["single:0"]
    assert stored["many:1"] == stored["single:1"]
    assert odd in json.loads(stored["many:0"])["activity"]["text"]
    claimed = {c.dedupe_key: c for c in claim(db, "p1")}
    assert (claimed["many:0"].activity, claimed["many:0"].target) == (card, target)


def test_a_card_shared_by_a_batch_is_not_copied_into_each_payload(db: Database) -> None:
    """The database writes a batch's payloads: on PostgreSQL its statement carries each
    distinct card once, however many rows share it; on SQLite each row binds the card itself
    (the one string), never a payload of its own with the card inside."""
    sent: list[Any] = []
    sa.event.listen(
        db.engine,
        "before_cursor_execute",
        lambda _c, _cursor, _statement, parameters, *_: sent.append(parameters),
    )
    card = outbox.activity_json({"type": "message", "text": "the-one-card"})
    other = outbox.activity_json({"type": "message", "text": "the-other-card"})
    batch = [
        outbox.Queued(
            dedupe_key=f"nudge:{n}",
            kind="nudge",
            tenant_id="tenant-1",
            target=alex(f"29:person-{n}"),
            activity_json=other if n == 3 else card,
        )
        for n in range(50)
    ]
    assert db.run_sync(lambda s: outbox.enqueue_many(s, batch, now=NOW)) == 50
    if db.is_sqlite:
        bound = [value for parameters in sent for value in parameters if isinstance(value, str)]
        assert [value for value in bound if "the-one-card" in value] == [card] * 49
        assert [value for value in bound if "the-other-card" in value] == [other]
    else:  # what psycopg sends for its JSON parameters (their repr is cut short)

        def as_sent(parameters: Any) -> str:
            plain = {k: getattr(v, "obj", v) for k, v in parameters.items()}
            return json.dumps(plain, default=str)

        assert sum(as_sent(parameters).count("the-one-card") for parameters in sent) == 1
        assert sum(as_sent(parameters).count("the-other-card") for parameters in sent) == 1
        # No list parameter: psycopg would escape a text[]'s elements in Python (store.bulk).
        assert not [v for parameters in sent for v in parameters.values() if isinstance(v, list)]
    target = json.dumps(alex("29:person-3").to_json(), separators=(",", ":"))
    assert stored_payloads(db)["nudge:3"] == f'{{"target":{target},"activity":{other}}}'


def test_a_duplicate_key_does_not_spoil_the_callers_transaction(db: Database) -> None:
    """ON CONFLICT DO NOTHING, not an IntegrityError: the state change it rides with commits."""
    queue(db, "k")

    def work(session: Session) -> bool:
        first = outbox.enqueue(
            session,
            dedupe_key="k",
            kind="nudge",
            tenant_id="tenant-1",
            target=CHANNEL,
            activity={"type": "message"},
            now=NOW,
        )
        session.add(Person(tenant_id="t", teams_user_id="29:new", created_at=NOW, updated_at=NOW))
        return first

    assert db.run_sync(work) is False
    assert db.run_sync(lambda s: s.exec(select(Person)).one().teams_user_id) == "29:new"
    assert row(db, "k").kind == "invitation"


def test_a_message_queued_in_a_transaction_that_rolls_back_is_not_queued(db: Database) -> None:
    def work(session: Session) -> None:
        outbox.enqueue(
            session,
            dedupe_key="k",
            kind="nudge",
            tenant_id="tenant-1",
            target=CHANNEL,
            activity={"type": "message"},
            now=NOW,
        )
        raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        db.run_sync(work)
    assert db.run_sync(lambda s: s.exec(select(OutboxMessage)).all()) == []


# -- claiming -------------------------------------------------------------------------------


def test_claim_takes_due_rows_oldest_first_and_leases_them(db: Database) -> None:
    queue(db, "later", at=NOW + timedelta(minutes=5))
    queue(db, "second", at=NOW - timedelta(seconds=1))
    queue(db, "first", at=NOW - timedelta(seconds=2))
    queue(db, "channel", at=NOW, target=CHANNEL)

    claimed = claim(db, "A", limit=2, lease=600)
    assert [c.dedupe_key for c in claimed] == ["first", "second"]
    assert claimed[0].target == alex()
    assert claimed[0].activity == {"type": "message", "text": "first"}
    assert claimed[0].lease_until == NOW + timedelta(seconds=600)
    leased = row(db, "first")
    assert leased.lease_owner == "A"
    assert outbox.utc(leased.lease_until) == NOW + timedelta(seconds=600)

    assert [c.dedupe_key for c in claim(db, "B", lease=600)] == ["channel"]
    assert claim(db, "B") == []  # the rest is leased or not due
    assert [c.dedupe_key for c in claim(db, "B", now=NOW + timedelta(minutes=5))] == ["later"]


def test_a_dead_processs_rows_are_claimed_again_when_its_lease_runs_out(db: Database) -> None:
    queue(db, "k")
    assert [c.dedupe_key for c in claim(db, "A", lease=30)] == ["k"]
    # A dies. Before the lease ends nobody else may take the row; after, someone does.
    assert claim(db, "B", now=NOW + timedelta(seconds=29)) == []
    assert db.run_sync(lambda s: outbox.next_due(s, NOW, NOW)) == NOW + timedelta(seconds=30)
    again = claim(db, "B", now=NOW + timedelta(seconds=30))
    assert [c.dedupe_key for c in again] == ["k"]
    assert row(db, "k").lease_owner == "B"


def test_outcomes_are_compare_and_set_on_the_lease(db: Database) -> None:
    queue(db, "k")
    [mine] = claim(db, "A", lease=30)
    later = NOW + timedelta(seconds=31)
    [theirs] = claim(db, "B", now=later)  # A's lease expired while it was still sending

    def sent(owner: str) -> Any:
        return lambda s: outbox_outcomes.mark_sent(
            s, row_id=mine.id, owner=owner, now=later, activity_id=f"1:{owner}"
        )

    assert db.run_sync(sent("A")) is False  # A can't overwrite what B will record
    assert db.run_sync(sent("B")) is True
    assert db.run_sync(sent("B")) is False  # only once
    assert (
        db.run_sync(
            lambda s: outbox_outcomes.mark_failed(
                s, row_id=theirs.id, owner="B", status=403, error="x"
            )
        )
        is False
    )
    stored = row(db, "k")
    assert (stored.status, stored.attempts, stored.sent_activity_id) == ("sent", 1, "1:B")
    assert stored.lease_until is None
    assert stored.lease_owner == "B"


def test_retry_counts_the_attempt_and_frees_the_row_until_not_before(db: Database) -> None:
    queue(db, "k")
    [item] = claim(db, "A")
    retry_at = NOW + timedelta(seconds=10)
    assert (
        db.run_sync(
            lambda s: outbox_outcomes.mark_retry(
                s, row_id=item.id, owner="B", not_before=retry_at, status=503, error="x"
            )
        )
        is False
    )
    assert db.run_sync(
        lambda s: outbox_outcomes.mark_retry(
            s,
            row_id=item.id,
            owner="A",
            not_before=retry_at,
            status=429,
            error="Throttled: " + "x" * 900,
        )
    )
    stored = row(db, "k")
    assert (stored.attempts, stored.last_status, stored.lease_owner) == (1, 429, None)
    assert stored.last_error is not None
    assert len(stored.last_error) == 500
    assert claim(db, "A", now=retry_at - timedelta(microseconds=1)) == []
    [again] = claim(db, "B", now=retry_at)
    assert again.attempts == 1

    # Releasing gives it back without counting an attempt.
    assert db.run_sync(
        lambda s: outbox_outcomes.release(s, row_id=again.id, owner="B", not_before=retry_at)
    )
    assert row(db, "k").attempts == 1
    assert [c.dedupe_key for c in claim(db, "C", now=retry_at)] == ["k"]


def test_claims_from_many_threads_never_overlap(db: Database) -> None:
    for n in range(120):
        queue(db, f"k{n}")
    taken: list[int] = []
    lock = threading.Lock()

    def worker(owner: str) -> None:
        while True:
            got = claim(db, owner, limit=7)
            if not got:
                return
            with lock:
                taken.extend(c.id for c in got)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Counter(taken).most_common(1)[0][1] == 1
    assert len(taken) == 120


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_open_transactions_on_postgresql_claim_disjoint_rows(db: Database) -> None:
    """SKIP LOCKED: while one claim's transaction is still open, another claim skips its rows
    instead of waiting for them (a lock timeout turns a regression into a failure, not a hang)."""
    for n in range(10):
        queue(db, f"k{n}")
    with Session(db.engine) as first, Session(db.engine) as second:
        first.begin()
        second.begin()
        second.connection().execute(sa.text("SET LOCAL lock_timeout = '2s'"))
        mine = outbox.claim_due(first, owner="A", now=NOW, limit=4, lease_seconds=60)
        theirs = outbox.claim_due(second, owner="B", now=NOW, limit=10, lease_seconds=60)
        first.commit()
        second.commit()
    ids_a = {c.id for c in mine}
    ids_b = {c.id for c in theirs}
    assert len(ids_a) == 4
    assert len(ids_b) == 6
    assert not ids_a & ids_b
    assert claim(db, "C") == []


# -- a round's view -------------------------------------------------------------------------


def test_status_counts_and_failures_per_round(db: Database) -> None:
    round_id = make_round(db)
    people = [make_person(db, f"29:p{n}") for n in range(4)]
    for n, person in enumerate(people):
        queue(db, f"r:{n}", round_id=round_id, person_id=person)
    queue(db, "other-round-or-none")
    got = {c.dedupe_key: c for c in claim(db, "A")}
    assert got["r:0"].round_id == round_id
    assert got["r:0"].person_id == people[0]

    def outcomes(session: Session) -> None:
        outbox_outcomes.mark_sent(
            session, row_id=got["r:0"].id, owner="A", now=NOW, activity_id="1:1"
        )
        outbox_outcomes.mark_failed(
            session,
            row_id=got["r:1"].id,
            owner="A",
            status=403,
            error="ConversationBlockedByUser: User blocked the conversation with the bot.",
        )
        outbox_outcomes.mark_retry(
            session,
            row_id=got["r:2"].id,
            owner="A",
            not_before=NOW + timedelta(seconds=5),
            status=503,
            error="ServiceUnavailable",
        )

    db.run_sync(outcomes)
    counts = db.run_sync(lambda s: outbox.status_counts(s, round_id))
    assert counts == {"pending": 2, "sent": 1, "failed": 1, "cancelled": 0}
    [failed] = db.run_sync(lambda s: outbox.failures(s, round_id))
    assert (failed.dedupe_key, failed.person_id, failed.status, failed.attempts) == (
        "r:1",
        people[1],
        403,
        1,
    )
    assert failed.error.startswith("ConversationBlockedByUser")
    assert db.run_sync(outbox.pending_count) == 3


# -- leases on the database's clock -----------------------------------------------------------


def test_a_sender_whose_clock_runs_ahead_cannot_claim_a_row_in_flight(db: Database) -> None:
    """Fault: the second process's clock runs 3 s (or an hour) ahead of the first's.
    Outcome: the first's lease still holds; nobody claims the row twice."""
    queue(db, "k")
    honest = db.run_sync(outbox.database_now)
    [mine] = db.run_sync(
        lambda s: outbox.claim_due(s, owner="A", now=honest, limit=10, lease_seconds=5)
    )
    assert abs((mine.lease_until - honest).total_seconds() - 5) < 2
    for ahead in (timedelta(seconds=3), timedelta(hours=1)):
        skewed = honest + ahead
        stolen = db.run_sync(
            lambda s, at=skewed: outbox.claim_due(s, owner="B", now=at, limit=10, lease_seconds=5)
        )
        assert stolen == []
    assert row(db, "k").lease_owner == "A"
    # What the skewed sender is told to wait for is the lease's end on its own clock.
    due = db.run_sync(lambda s: outbox.next_due(s, honest + timedelta(hours=1)))
    assert due is not None
    assert timedelta(0) < due - (honest + timedelta(hours=1)) <= timedelta(seconds=5)


def test_the_database_clock_is_the_servers(db: Database) -> None:
    before = datetime.now(UTC)
    server = db.run_sync(outbox.database_now)
    assert server.tzinfo is not None
    assert abs((server - before).total_seconds()) < 5  # same machine in the tests


def test_many_messages_are_bound_before_the_transaction_begins(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the transaction's BEGIN IMMEDIATE takes the write lock: the values of a batch
    go through their bind processors before it (where the insert is the transaction's first
    statement), so that the lock covers only the statements."""
    if not db.is_sqlite:
        pytest.skip("SQLite's write lock")
    order: list[str] = []
    real = outbox.prepare_insert_ignoring

    def prepare(*args: Any, **kwargs: Any) -> Any:
        prepared = real(*args, **kwargs)
        order.append("bound")
        return prepared

    monkeypatch.setattr(outbox, "prepare_insert_ignoring", prepare)
    sa.event.listen(db.engine, "begin", lambda _connection: order.append("begin"))
    batch = [
        outbox.Queued(
            dedupe_key=f"nudge:{n}",
            kind="nudge",
            tenant_id="tenant-1",
            target=alex(f"29:person-{n}"),
            activity_json=outbox.activity_json({"type": "message"}),
        )
        for n in range(3)
    ]
    assert db.run_sync(lambda s: outbox.enqueue_many(s, batch, now=NOW)) == 3
    assert order == ["bound", "begin"]
