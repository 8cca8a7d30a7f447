"""Answer round trip: impact-bot against a bare botbuilder 4.17 echo bot, on one machine.

    .venv/bin/python benchmarks/answer_roundtrip.py [--people 20] [--answers-per-person 22]
        [--backends sqlite,postgresql] [--json] [--profile] [--client teamsuser|lean]
        [--client-process]

The bot under test (aiohttp) and the fake Bot Connector that stands in for Teams
(tests/fakes/connector.py) run in this process, on loopback HTTP; so do the simulated people
(benchmarks/answer_people.py), unless `--client-process` puts them in a process of their own
(benchmarks/answer_client.py). For each configuration (echo bot, impact-bot on SQLite,
impact-bot on PostgreSQL):

1. warm-up: a couple of people take a few turns (not measured);
2. single person: one person at a time takes turns one after another (the 1-person p50);
3. concurrent: N people, set up first (not timed), then all take M turns at once, each waiting
   for its own HTTP response before its next turn. Throughput = turns / wall time of this phase.

All configurations run in turn, and that `--repeats` times (3 by default). The target (each
database's answers/s at least 2.5 times the echo bot's) is judged on the median of the repeats'
ratios, each repeat's ratio its database's throughput over the echo bot's of the same repeat;
every repeat's figures are printed (answer_figures.judged_ratios says why).

Latency of a turn = from just before the POST to /api/messages until the HTTP response has been
read. The bot posts its reply (the echo, or the next question card) to the connector during the
turn and awaits the connector's answer before it finishes, so by then the connector has recorded
it. In-process that is checked on every turn: after the response, with no `await` in between
(everything shares one event loop, so nothing else can run), the person's conversation on the
fake connector must hold exactly one new activity, and it must be the expected one (the echoed
text; question n+1, or the review card after the last question). A turn that fails the check
stops the run. With `--client-process` the people check the same on the activities the
connector pushes to them, and after the run this process checks every person's conversation on
its connector: exactly one activity per turn, in order, each the expected one.

After the impact-bot runs the database is checked: every measured person must have exactly one
assessment with exactly M answers, at the levels that person sent. Exit status: 0, or 1 if a
check failed (missing the performance target is a measurement, not a failure), or 2 if a
configuration could not be set up (e.g. PostgreSQL unreachable).

`--profile` runs only impact-bot (on each of `--backends`) under pyinstrument during the
concurrent phase: the event loop's thread (artifacts/profile-answer-<backend>.html and the top of
its text report; wall time, or CPU time with `--profile-clock cpu`) and every database worker
thread, in CPU time, merged into one text report (benchmarks/answer_profile.py).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psycopg
import sqlalchemy as sa
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make bot/, store/, tests/ importable
    sys.path.insert(0, str(ROOT))

from benchmarks.answer_client import (  # noqa: E402
    PushingConnector,
    conversation_problems,
    person_specs,
    run_client_process,
)
from benchmarks.answer_figures import (  # noqa: E402
    ConfigResult,
    DataCheck,
    Options,
    machine,
    print_table,
    summary,
)
from benchmarks.answer_people import (  # noqa: E402
    BenchmarkError,
    Bracket,
    EchoPerson,
    ImpactPerson,
    Person,
    client_session,
    concurrently,
    one_at_a_time,
    take_turns,
)
from benchmarks.answer_profile import CpuSplit, TurnProfile  # noqa: E402
from benchmarks.echo_bot import create_echo_app  # noqa: E402
from benchmarks.throwaway import Throwaway  # noqa: E402
from bot.config import load_settings  # noqa: E402
from framework.content import default_framework  # noqa: E402
from impact.service import create_app  # noqa: E402
from store.db import Database  # noqa: E402
from store.schema import upgrade  # noqa: E402
from tests.fakes.connector import FakeConnector  # noqa: E402
from tests.fakes.loopback import serve  # noqa: E402
from tests.fakes.teams_client import TeamsUser, find_action  # noqa: E402

POSTGRES_URL = os.environ.get(
    "IMPACT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


class SetupError(Exception):
    """A configuration could not be brought up (e.g. PostgreSQL not reachable)."""


# ---- serving --------------------------------------------------------------------------------


@contextmanager
def database_url_for(backend: str) -> Iterator[str]:
    """A fresh database (benchmarks/throwaway.py): a SQLite file in a temporary folder, or a
    throwaway PostgreSQL database impact_bench_<uuid> on the test server, dropped after."""
    if backend not in ("sqlite", "postgresql"):
        raise SetupError(f"unknown backend {backend!r} (use sqlite or postgresql)")
    try:
        database = Throwaway(POSTGRES_URL if backend == "postgresql" else None, "bench")
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise SetupError(
            f"PostgreSQL not reachable at {POSTGRES_URL} ({first}); set IMPACT_TEST_POSTGRES_URL "
            "or use --backends sqlite"
        ) from exc
    try:
        yield database.url
    finally:
        database.drop()


# ---- configurations -------------------------------------------------------------------------


PersonFactory = Callable[[TeamsUser, aiohttp.ClientSession, str], Person]


@dataclass
class Measured:
    """One configuration's timed figures and, for impact-bot, what the people sent."""

    result: ConfigResult
    sent: dict[str, dict[int, int]]  # Teams user id -> question -> level (measured people)
    people: list[Person] = field(default_factory=list)  # in-process only


async def measure(
    name: str,
    key: str,
    bot_app: web.Application,
    make_person: PersonFactory,
    options: Options,
    bracket: Bracket | None = None,
) -> Measured:
    """Warm-up, single person, concurrent, with the people in this process."""
    connector = FakeConnector()
    await connector.start()
    runner, bot_url = await serve(bot_app)
    try:
        async with client_session(options.people) as session:

            def people(count: int, tag: str) -> list[Person]:
                return [
                    make_person(
                        TeamsUser(bot_url=bot_url, connector=connector, session=session),
                        session,
                        f"{tag}-{i}",
                    )
                    for i in range(count)
                ]

            warmup = people(options.warmup_people, "warmup")
            await asyncio.gather(*(p.begin() for p in warmup))
            await asyncio.gather(*(take_turns(p, options.warmup_turns, None) for p in warmup))

            single = people(options.single_people, "single")
            single_latencies = await one_at_a_time(single, options.turns)

            crowd = people(options.people, "crowd")
            latencies, wall, cpu = await concurrently(crowd, options.turns, bracket)
    finally:
        await runner.cleanup()
        await connector.stop()
    result = ConfigResult(
        name=name,
        key=key,
        people=options.people,
        turns=len(latencies),
        wall_s=wall,
        cpu_s=cpu,
        latencies=latencies,
        single_latencies=single_latencies,
    )
    measured = [*single, *crowd]
    sent = {p.user.user_id: p.sent for p in measured if isinstance(p, ImpactPerson)}
    return Measured(result, sent, measured)


async def measure_client_process(
    name: str,
    key: str,
    bot_app: web.Application,
    questions: int | None,
    options: Options,
    bracket: Bracket | None = None,
) -> Measured:
    """The same phases, with the people in a process of their own (benchmarks/answer_client.py);
    then every person's chat on the connector is checked (`questions` None: the echo bot)."""
    connector = PushingConnector()
    await connector.start()
    runner, bot_url = await serve(bot_app)
    phases = {
        "warmup": (options.warmup_people, options.warmup_turns),
        "single": (options.single_people, options.turns),
        "crowd": (options.people, options.turns),
    }
    specs = {tag: person_specs(connector, count, tag) for tag, (count, _) in phases.items()}
    config = {
        **dataclasses.asdict(options),
        "key": key,
        "questions": questions,
        "bot_url": bot_url,
        "connector_url": connector.url,
        "people": specs,
    }
    try:
        run = await run_client_process(config, connector, bracket)
        chats = [(spec, phases[tag][1]) for tag, group in specs.items() for spec in group]
        if problems := conversation_problems(connector, chats, questions):
            raise BenchmarkError("the connector's chats after the run: " + "; ".join(problems[:5]))
    finally:
        await runner.cleanup()
        await connector.stop()
    result = ConfigResult(
        name=name,
        key=key,
        people=options.people,
        turns=len(run.latencies),
        wall_s=run.wall_s,
        cpu_s=run.bot_cpu_s,
        latencies=run.latencies,
        single_latencies=run.single_latencies,
        client_cpu_s=run.client_cpu_s,
        chats_checked=len(chats),
    )
    return Measured(result, run.sent)


async def run_echo(options: Options) -> ConfigResult:
    name, app = "echo bot (bare SDK)", create_echo_app()
    if options.client_process:
        return (await measure_client_process(name, "echo", app, None, options)).result

    def make(user: TeamsUser, session: aiohttp.ClientSession, _tag: str) -> Person:
        return EchoPerson(user, session, lean=options.lean)

    return (await measure(name, "echo", app, make, options)).result


async def run_impact(
    backend: str, options: Options, profile: str | None = None, profile_lines: int = 40
) -> tuple[ConfigResult, str | None]:
    questions = default_framework().question_count
    if options.turns > questions:
        raise SetupError(f"--answers-per-person is at most {questions} (the framework's questions)")
    with database_url_for(backend) as url:
        db = Database(url)
        try:
            try:
                upgrade(db.engine)
            except Exception as exc:
                raise SetupError(f"migrating the {backend} database failed: {exc!r}") from exc
            app = create_app(load_settings(database_url=url, app_id=""), db=db)
            # the CPU split of every run; with --profile (the event loop's clock) the profiles
            split = CpuSplit(db)
            profiler = None
            if profile is not None:
                split = profiler = TurnProfile(db, profile_html(backend), loop_clock=profile)
            name = f"impact-bot {backend}"
            if options.client_process:
                measured = await measure_client_process(
                    name, backend, app, questions, options, split
                )
            else:

                def make(user: TeamsUser, session: aiohttp.ClientSession, tag: str) -> Person:
                    rng = random.Random(f"{options.seed}-{backend}-{tag}")
                    return ImpactPerson(
                        user, session, lean=options.lean, questions=questions, rng=rng
                    )

                measured = await measure(name, backend, app, make, options, split)
                measured.result.bookkeeping_ms = teamsuser_bookkeeping_ms(measured.people[-1])
            result = measured.result
            result.cpu_split = split.split_ms(result.turns)
            result.cpu_unread = split.unread()
            result.data_check = check_answers(db, measured.sent, options.turns)
        finally:
            db.dispose()
    report = profiler.report(result.turns, profile_lines) if profiler is not None else None
    return result, report


def profile_html(backend: str) -> Path:
    return ROOT / "artifacts" / f"profile-answer-{backend}.html"


def check_answers(db: Database, sent: dict[str, dict[int, int]], expected: int) -> DataCheck:
    """Every measured person: one assessment, exactly `expected` answers, at the levels sent."""
    check = DataCheck(expected_answers=expected, people=len(sent))
    query = sa.text(
        "SELECT p.teams_user_id, s.id, a.question_number, a.level "
        "FROM people p JOIN assessments s ON s.person_id = p.id "
        "LEFT JOIN answers a ON a.assessment_id = s.id "
        "WHERE p.teams_user_id IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    with db.engine.connect() as connection:
        rows = connection.execute(query, {"ids": list(sent)}).all()
    assessments: dict[str, set[int]] = {uid: set() for uid in sent}
    answers: dict[str, dict[int, int | None]] = {uid: {} for uid in sent}
    for user_id, assessment_id, question, level in rows:
        assessments[user_id].add(assessment_id)
        if question is not None:
            answers[user_id][question] = level
    for user_id, levels in sent.items():
        stored = answers[user_id]
        if len(assessments[user_id]) != 1:
            check.problems.append(f"{user_id}: {len(assessments[user_id])} assessments")
        elif len(stored) != expected:
            check.problems.append(f"{user_id}: {len(stored)} answers, expected {expected}")
        elif stored != levels:
            check.problems.append(f"{user_id}: stored levels differ from the levels sent")
        else:
            check.passed += 1
    return check


def teamsuser_bookkeeping_ms(person: Person, repeats: int = 2000) -> float:
    """What TeamsUser.press does besides HTTP (find the latest card and its action, build the
    invoke, show the settled card in place), on a chat holding a whole assessment: ms/press."""
    user = person.user
    card_id, card = user.last_card()
    start = time.perf_counter()
    for _ in range(repeats):
        card_id, card = user.last_card()
        action = find_action(card, card["actions"][0]["title"])  # the review card has no Next
        data = {**(action.get("data") or {}), "level": "3", "comment": ""}
        activity = user.activity(
            type="invoke",
            name="adaptiveCard/action",
            replyToId=card_id,
            value={"action": {"type": "Action.Execute", "verb": "answer", "data": data}},
        )
        json.dumps(activity)  # what the session does to the body
        user.connector.replace_shown(user.conversation_id, card_id, user.chat()[-1][1])
    return (time.perf_counter() - start) / repeats * 1000


# ---- main -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--people", type=int, default=20, help="concurrent people (default 20)")
    parser.add_argument(
        "--answers-per-person", type=int, default=22, help="turns per person (default 22)"
    )
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="impact-bot databases (comma-separated)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="only impact-bot (each of --backends), under pyinstrument: the event loop "
        "(artifacts/profile-answer-<backend>.html) and every database thread",
    )
    parser.add_argument("--profile-lines", type=int, default=40, help="text report lines shown")
    parser.add_argument(
        "--profile-clock",
        choices=["wall", "cpu"],
        default="wall",
        help="what the event loop's samples measure (database threads: always CPU time)",
    )
    parser.add_argument(
        "--client",
        choices=["teamsuser", "lean"],
        default="teamsuser",
        help="teamsuser: TeamsUser.say/press; lean: post a prebuilt activity (default teamsuser)",
    )
    parser.add_argument(
        "--client-process",
        action="store_true",
        help="the people in a separate process (benchmarks/answer_client.py); CPU ms/turn is "
        "then the bot's process alone",
    )
    parser.add_argument("--single-people", type=int, default=3, help="for the 1-person p50")
    parser.add_argument("--warmup-people", type=int, default=2)
    parser.add_argument("--warmup-turns", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="times every configuration runs, in turn; the target is judged on the median "
        "ratio (default 3; --profile runs once)",
    )
    args = parser.parse_args(argv)
    if min(args.people, args.answers_per_person, args.single_people, args.repeats) < 1:
        parser.error(
            "--people, --answers-per-person, --single-people and --repeats must be at least 1"
        )
    args.warmup_turns = min(args.warmup_turns, args.answers_per_person)
    return args


async def run(args: argparse.Namespace) -> int:
    options = Options(
        people=args.people,
        turns=args.answers_per_person,
        single_people=args.single_people,
        warmup_people=args.warmup_people,
        warmup_turns=args.warmup_turns,
        lean=args.client == "lean",
        seed=args.seed,
        client_process=args.client_process,
    )
    say: Callable[[str], None] = (lambda text: print(text, file=sys.stderr)) if args.json else print
    started = machine()
    repeats: list[list[ConfigResult]] = []
    reports: list[str] = []
    try:
        runs = 1 if args.profile else args.repeats
        for number in range(1, runs + 1):
            results: list[ConfigResult] = []
            repeat = f" (repeat {number} of {runs})" if runs > 1 else ""
            if not args.profile:
                say(f"running: echo bot (bare SDK){repeat} ...")
                results.append(await run_echo(options))
            for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
                profiled = " under the profiler" * args.profile
                say(f"running: impact-bot {backend}{profiled}{repeat} ...")
                profile = args.profile_clock if args.profile else None
                result, report = await run_impact(backend, options, profile, args.profile_lines)
                results.append(result)
                if report is not None:
                    reports.append(f"==== impact-bot {backend} ====\n{report}")
            repeats.append(results)
    except SetupError as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 2
    except BenchmarkError as exc:
        print(f"check failed: {exc}", file=sys.stderr)
        return 1

    facts = summary(repeats, options, started)
    if args.json:
        if args.profile:
            htmls = [str(profile_html(r.key).relative_to(ROOT)) for r in repeats[0]]
            facts["profile_html"] = htmls
        print(json.dumps(facts, indent=2))
    else:
        print_table(repeats, facts)
    if reports:
        out = sys.stderr if args.json else sys.stdout
        print("(figures above were taken under the profiler)", file=out)
        print("\n\n".join(reports), file=out)
    return 0 if facts["data_check_ok"] else 1


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
