"""The simulated people in a process of their own: `answer_roundtrip.py --client-process`.

The bot under test and the fake Bot Connector stay in the benchmark's process; the people run in
a second Python process started for each configuration (`python benchmarks/answer_client.py --fd
N`), so the bot's process spends no CPU on them and its CPU per turn is the bot's (with the fake
connector's). The two talk over a Unix socket pair, one JSON object a line:

- benchmark -> people: first the configuration (bot and connector URLs, the people's Teams ids,
  turns, seed, client style), then every activity the connector accepts, as the bot sent it, with
  the id the connector gave it (what Teams does: show the person the bot's new message); and
  `{"go": 1}` once the bot's side is ready for the timed phase;
- people -> benchmark: `ready` (the concurrent phase's people are set up: start measuring, then
  send go), `done` (the last timed turn has its response), then `result` (latencies, wall time,
  the client's CPU, the levels each person sent), or `error`.

The people are the in-process ones (benchmarks/answer_people.py) over a mirror of the connector
fed by those pushes, so `--client teamsuser` (`TeamsUser.press` finds the card on the mirror) and
`--client lean` both work; after each response a person waits for the push of the bot's reply and
checks it as in-process. Afterwards the benchmark checks its own connector: every person's
conversation holds exactly one activity per turn, in order, each the expected one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import socket
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make benchmarks/ and tests/ importable
    sys.path.insert(0, str(ROOT))

from benchmarks.answer_people import (  # noqa: E402
    BenchmarkError,
    Bracket,
    EchoPerson,
    ImpactPerson,
    Person,
    client_session,
    concurrently,
    echo_text,
    first_text,
    next_card_problem,
    one_at_a_time,
    take_turns,
)
from tests.fakes.connector import FakeConnector  # noqa: E402
from tests.fakes.teams_client import TeamsUser, card_of  # noqa: E402

SCRIPT = Path(__file__).resolve()
LINE_LIMIT = 1 << 24  # bytes in one line (an activity with its card is a few kB)
PUSH_WAIT_S = 10.0  # a reply the connector accepted must reach the people within this


# ---- in the benchmark's process -------------------------------------------------------------


class PushingConnector(FakeConnector):
    """The fake Bot Connector, also pushing each activity it accepts (sends and replies, 201)
    to the client process: its bytes as the bot sent them, not re-encoded, and its new id. The
    pushes of one turn of the event loop go out in one write (one system call, one release of
    the GIL), as soon as the loop comes round."""

    def __init__(self) -> None:
        super().__init__()
        self.pushes: asyncio.StreamWriter | None = None
        self._waiting: list[bytes] = []

    async def _post_activity(self, request: web.Request, kind: str) -> web.StreamResponse:
        response = await super()._post_activity(request, kind)
        body = getattr(response, "body", None)
        if self.pushes is not None and response.status == 201 and isinstance(body, bytes):
            ids = json.dumps([request.match_info["cid"], json.loads(body)["id"]]).encode()
            raw = (await request.read()).replace(b"\n", b" ")  # JSON: a newline is whitespace
            if not self._waiting:
                asyncio.get_running_loop().call_soon(self._push)
            self._waiting.append(b'{"ids":%b,"a":%b}\n' % (ids, raw))
        return response

    def _push(self) -> None:
        lines, self._waiting = self._waiting, []
        if self.pushes is not None:
            self.pushes.write(b"".join(lines))


def person_specs(connector: FakeConnector, count: int, tag: str) -> list[dict[str, str]]:
    """New people with their Teams ids; their chats are opened on the connector."""
    users = [TeamsUser(bot_url="", connector=connector) for _ in range(count)]
    return [
        {
            "tag": f"{tag}-{i}",
            "user_id": user.user_id,
            "aad_object_id": user.aad_object_id,
            "conversation_id": user.conversation_id,
        }
        for i, user in enumerate(users)
    ]


@dataclass
class ClientRun:
    """What the client process measured, and the bot process's CPU over the timed phase."""

    latencies: list[float]
    single_latencies: list[float]
    wall_s: float
    client_cpu_s: float
    bot_cpu_s: float
    sent: dict[str, dict[int, int]]  # Teams user id -> question -> level (measured people)


async def run_client_process(
    config: dict[str, Any], connector: PushingConnector, bracket: Bracket | None
) -> ClientRun:
    """Start the people's process, feed it the connector's activities, and wait for its
    figures; `bracket` is started and stopped around the timed phase."""
    ours, theirs = socket.socketpair()
    with ours:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            "--fd",
            str(theirs.fileno()),
            pass_fds=(theirs.fileno(),),
            stdin=asyncio.subprocess.DEVNULL,
        )
        theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=ours, limit=LINE_LIMIT)
        connector.pushes = writer
        try:
            writer.write(json.dumps(config).encode() + b"\n")
            run = await _follow(reader, writer, bracket)
        finally:
            connector.pushes = None
            writer.close()
            if process.returncode is None:
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    process.kill()
                    await process.wait()
    return run


async def _follow(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, bracket: Bracket | None
) -> ClientRun:
    cpu_at_go, bot_cpu = 0.0, float("nan")
    while line := await reader.readline():
        message = json.loads(line)
        event = message.get("event")
        if event == "ready":
            if bracket is not None:
                await bracket.start()
            cpu_at_go = time.process_time()
            writer.write(b'{"go":1}\n')
        elif event == "done":
            bot_cpu = time.process_time() - cpu_at_go
            if bracket is not None:
                await bracket.stop()
        elif event == "result":
            sent = {
                user: {int(q): level for q, level in levels.items()}
                for user, levels in message["sent"].items()
            }
            return ClientRun(
                latencies=message["latencies"],
                single_latencies=message["single_latencies"],
                wall_s=message["wall_s"],
                client_cpu_s=message["cpu_s"],
                bot_cpu_s=bot_cpu,
                sent=sent,
            )
        elif event == "error":
            raise BenchmarkError(f"in the client process: {message['message']}")
    raise BenchmarkError("the client process ended without its figures (see its stderr above)")


def conversation_problems(
    connector: FakeConnector,
    people: Sequence[tuple[dict[str, str], int]],
    questions: int | None,
) -> list[str]:
    """Each person's chat on the connector after the run: exactly one activity per turn, in
    order, each the expected one (the echoed text; question n+1, the review card after the
    last). `people`: (spec, turns taken); `questions` None for the echo bot."""
    problems: list[str] = []
    for spec, turns in people:
        user_id, state = spec["user_id"], connector.conversations[spec["conversation_id"]]
        shown = [state.activities[aid] for aid in state.order]
        if questions is None:
            texts = [activity.get("text") for activity in shown]
            if texts != [echo_text(n, user_id) for n in range(1, turns + 1)]:
                problems.append(f"{user_id}: the chat holds {texts[:3]}... ({len(texts)})")
            continue
        cards = [card_of(activity) or {} for activity in shown]
        first = next(
            (i for i, c in enumerate(cards) if first_text(c).startswith("Question 1 of ")), None
        )
        after = cards[first + 1 :] if first is not None else []
        if first is None or len(after) != turns:
            problems.append(f"{user_id}: {len(after)} activities after question 1, not {turns}")
            continue
        for number, card in enumerate(after, start=1):
            if (problem := next_card_problem(number, questions, card)) is not None:
                problems.append(f"{user_id} answer {number}: {problem}")
                break
    return problems


# ---- in the people's process ----------------------------------------------------------------


class Mirror(FakeConnector):
    """What the people see of the connector: the activities it pushed (never started: the
    bot talks to the real one, whose URL the people's activities carry as serviceUrl)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._waiting: dict[str, tuple[int, asyncio.Future[None]]] = {}

    def show(self, conversation_id: str, activity_id: str, activity: dict[str, Any]) -> None:
        self.add_conversation(conversation_id)
        state = self.conversations[conversation_id]
        state.activities[activity_id] = activity
        state.order.append(activity_id)
        waiting = self._waiting.get(conversation_id)
        if waiting is not None and len(state.order) >= waiting[0] and not waiting[1].done():
            waiting[1].set_result(None)

    async def arrived(self, conversation_id: str, count: int) -> None:
        if len(self.conversations[conversation_id].order) >= count:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiting[conversation_id] = (count, future)
        try:
            await asyncio.wait_for(future, PUSH_WAIT_S)
        except TimeoutError:
            raise BenchmarkError(
                f"{conversation_id}: the bot's reply did not arrive within {PUSH_WAIT_S:.0f}s"
            ) from None
        finally:
            del self._waiting[conversation_id]

    async def follow(self, reader: asyncio.StreamReader, go: asyncio.Event) -> None:
        while line := await reader.readline():
            message = json.loads(line)
            if "go" in message:
                go.set()
            else:
                conversation_id, activity_id = message["ids"]
                self.show(conversation_id, activity_id, message["a"])


class Handshake:
    """The client side of the bracket: ask the bot's process to start measuring, wait for go."""

    def __init__(self, send: Callable[[dict[str, Any]], None], go: asyncio.Event) -> None:
        self.send, self.go = send, go

    async def start(self) -> None:
        self.send({"event": "ready"})
        await self.go.wait()

    async def stop(self) -> None:
        self.send({"event": "done"})


async def take_part(config: dict[str, Any], mirror: Mirror, bracket: Bracket) -> dict[str, Any]:
    """Warm-up, single person, concurrent: as in-process, over loopback HTTP to the bot."""
    turns, lean, specs = config["turns"], config["lean"], config["people"]
    async with client_session(len(specs["crowd"])) as session:

        def person(spec: dict[str, str]) -> Person:
            user = TeamsUser(
                bot_url=config["bot_url"],
                connector=mirror,
                session=session,
                user_id=spec["user_id"],
                aad_object_id=spec["aad_object_id"],
                conversation_id=spec["conversation_id"],
            )
            if config["questions"] is None:
                return EchoPerson(user, session, mirror.arrived, lean=lean)
            rng = random.Random(f"{config['seed']}-{config['key']}-{spec['tag']}")
            return ImpactPerson(
                user, session, mirror.arrived, lean=lean, questions=config["questions"], rng=rng
            )

        warmup = [person(spec) for spec in specs["warmup"]]
        await asyncio.gather(*(p.begin() for p in warmup))
        await asyncio.gather(*(take_turns(p, config["warmup_turns"], None) for p in warmup))
        single = [person(spec) for spec in specs["single"]]
        single_latencies = await one_at_a_time(single, turns)
        crowd = [person(spec) for spec in specs["crowd"]]
        latencies, wall, cpu = await concurrently(crowd, turns, bracket)
    sent = {p.user.user_id: p.sent for p in [*single, *crowd] if isinstance(p, ImpactPerson)}
    return {
        "latencies": latencies,
        "single_latencies": single_latencies,
        "wall_s": wall,
        "cpu_s": cpu,
        "sent": sent,
    }


async def serve(fd: int) -> int:
    reader, writer = await asyncio.open_unix_connection(
        sock=socket.socket(fileno=fd), limit=LINE_LIMIT
    )

    def send(message: dict[str, Any]) -> None:
        writer.write(json.dumps(message).encode() + b"\n")

    config = json.loads(await reader.readline())
    mirror, go = Mirror(config["connector_url"]), asyncio.Event()
    following = asyncio.create_task(mirror.follow(reader, go))
    status = 0
    try:
        send({"event": "result", **await take_part(config, mirror, Handshake(send, go))})
    except BenchmarkError as exc:
        send({"event": "error", "message": str(exc)})
        status = 1
    except Exception as exc:
        traceback.print_exc()
        send({"event": "error", "message": repr(exc)})
        status = 1
    await writer.drain()
    writer.close()
    following.cancel()
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the people of answer_roundtrip.py")
    parser.add_argument("--fd", type=int, required=True, help="the socket to the benchmark")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(serve(args.fd))


if __name__ == "__main__":
    sys.exit(main())
