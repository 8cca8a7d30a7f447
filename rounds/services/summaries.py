"""A closed round's summaries: one per team channel, and a copy to the improvement team's, each
with the team's chart (drawn only where its results are shown and there is a public URL to
serve it from) stored under a new random token.

Both ways the close queues them build each team's messages with `team_summaries`, so they
cannot drift apart:

- `keep_summaries_there`, a picklable read the close sends to its worker process
  (store.process_reads): the frozen results read back and parsed, the charts drawn and every
  card built there (`summaries_there`), off the service's GIL. Only the messages and the PNGs
  come back, a piece at a time (`take_summaries_piece`).
- `RoundSteps.queue_summaries` in the service itself, where no other process can open the
  database (an in-memory SQLite one): the same inputs read on a read thread, the charts drawn on
  threads, a team's messages at a time on the event loop.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlmodel import Session

from framework.content import Framework
from rounds.rules.results import RoundResults
from rounds.rules.summary import summary_view
from rounds.services.charts import chart_alt_text, chart_url, is_hidden
from rounds.services.drawing import Chart, draw_charts_on_threads
from rounds.services.ports import RoundMessages, RoundOptions
from store.outbox import Queued, Target, activity_json
from store.process_reads import KeptThere
from store.rounds.charts import new_chart_token
from store.rounds.frozen import frozen_evidence, frozen_results
from store.rounds.opening import round_teams
from store.rounds.tables import Round
from store.teams import Team, installed_team

TeamEvidence = tuple[tuple[int, str], ...]  # (question number, text) beside a team's results

# What one transaction of the close writes at most (more when one item is larger): about a
# millisecond of SQLite's write lock per 100 kB at trust size, so each well under 50 ms.
WRITE_BYTES = 512 * 1024

T = TypeVar("T")


@dataclass(frozen=True)
class SummaryInputs:
    """What a closed round's summaries are built from, read in one snapshot."""

    round_: Round
    results: RoundResults
    teams: list[Team]
    improvement: Team | None
    evidence: dict[int, TeamEvidence]  # by team id

    def charted(self, options: RoundOptions) -> list[int]:
        """The teams whose chart is drawn and stored: only shown ones, and only with a public
        URL to serve it from (a hidden team's card says so in words)."""
        if not options.public_url:
            return []
        return [
            t.id for t in self.teams if t.id is not None and not is_hidden(self.results.team(t.id))
        ]


@dataclass(frozen=True)
class Summaries:
    """A closed round's summary messages and the charts they show, by token (what
    `record_summaries` stores)."""

    messages: list[Queued] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    seconds: tuple[float, float, float] = (0.0, 0.0, 0.0)  # read, charts drawn, cards built


@dataclass(frozen=True)
class KeptSummaries:
    """What `keep_summaries_there` built and kept in the worker: under which key, how many
    pieces, and how long its reading, drawing and building took."""

    key: str
    pieces: int
    seconds: tuple[float, float, float]


# In the worker process: the summaries that `keep_summaries_there` built, by a key of their
# own (two leaders may close the same round at once through one worker), the pieces not taken
# yet last first; at most `KEPT_AT_MOST` builds, the oldest dropped (a close that stopped
# taking its pieces builds them again on its next run).
KEPT_AT_MOST = 4
_kept: KeptThere[list[Summaries]] = KeptThere(KEPT_AT_MOST)


def summary_inputs(round_id: int, improvement_team_id: str, session: Session) -> SummaryInputs:
    """The round, its frozen results (`freeze_results` froze them), its teams, the improvement
    team (None if it is not set or not installed) and each team's frozen evidence."""
    round_ = session.get(Round, round_id)
    assert round_ is not None
    results = frozen_results(session, round_id)
    assert results is not None, "freeze_results froze them"
    teams = round_teams(session, round_)
    evidence: dict[int, TeamEvidence] = {}
    for team in teams:
        assert team.id is not None
        evidence[team.id] = frozen_evidence(session, round_id, team.id) or ()
    improvement = installed_team(session, improvement_team_id) if improvement_team_id else None
    return SummaryInputs(round_, results, teams, improvement, evidence)


def team_summaries(
    inputs: SummaryInputs,
    team: Team,
    chart: Chart | None,
    images: dict[str, bytes],
    *,
    framework: Framework,
    options: RoundOptions,
    messages: RoundMessages,
) -> list[Queued]:
    """One team's summary, to its channel and to the improvement team's; its chart (if drawn)
    is added to `images` under a new token, which the card's image URL names."""
    assert team.id is not None
    results = inputs.results
    round_id = inputs.round_.id
    url = None
    if chart is not None:
        png, alt = chart
        token = new_chart_token()
        images[token] = png
        url = chart_url(options.public_url, token)
    else:
        alt = chart_alt_text(
            results.team(team.id), framework, round_name=results.name, min_group=results.min_group
        )
    view = summary_view(
        results,
        team.id,
        framework,
        chart_url=url,
        chart_alt=alt,
        evidence=inputs.evidence.get(team.id, ()),
    )
    activity = activity_json(messages.summary(view))
    destinations = [(team, f"round:{round_id}:summary:team:{team.id}")]
    if inputs.improvement is not None and inputs.improvement.id != team.id:
        destinations.append(
            (inputs.improvement, f"round:{round_id}:summary:team:{team.id}:improvement")
        )
    return [
        Queued(
            dedupe_key=key,
            kind="summary",
            tenant_id=channel.tenant_id,
            target=Target.conversation(channel.channel_conversation_id, channel.service_url),
            activity_json=activity,
            team_id=channel.id,
            round_id=round_id,
        )
        for channel, key in destinations
    ]


def summaries_there(
    round_id: int,
    framework: Framework,
    options: RoundOptions,
    messages: RoundMessages,
    session: Session,
) -> Summaries:
    """Every summary of a closed round with its charts, built in one read snapshot: what the
    close runs in its worker process (picklable with its arguments, so `messages` must be too,
    as the cards' `RoundCards` is). The charts are drawn on threads of the worker, most of a
    chart being Pillow's C code that runs without the GIL."""
    started = time.perf_counter()
    inputs = summary_inputs(round_id, options.improvement_team_id, session)
    read = time.perf_counter()
    charts = draw_charts_on_threads(inputs.results, inputs.charted(options), framework)
    drawn = time.perf_counter()
    images: dict[str, bytes] = {}
    queued = [
        message
        for team in inputs.teams
        for message in team_summaries(
            inputs,
            team,
            charts.get(team.id) if team.id is not None else None,
            images,
            framework=framework,
            options=options,
            messages=messages,
        )
    ]
    return Summaries(queued, images, (read - started, drawn - read, time.perf_counter() - drawn))


def keep_summaries_there(
    round_id: int,
    framework: Framework,
    options: RoundOptions,
    messages: RoundMessages,
    limit: int,
    session: Session,
) -> KeptSummaries:
    """`summaries_there`, kept in the worker in pieces of at most `limit` bytes (the charts,
    then the cards), for the close to take one at a time (`take_summaries_piece`). Sent back
    whole, a trust's summaries were one pickle of about 20 MB (some 270 charts of 70 kB), and
    the service's side of the pool read and unpickled it holding the GIL: its event loop stopped
    for 40-55 ms at the end of every close (py-spy, benchmarks/trust_scale.py), and the answers
    arriving meanwhile waited."""
    built = summaries_there(round_id, framework, options, messages, session)
    pieces = in_pieces(built, limit)
    key = keep(f"round:{round_id}:{uuid.uuid4().hex}", pieces)
    return KeptSummaries(key, len(pieces), built.seconds)


def keep(key: str, pieces: list[Summaries]) -> str:
    """Keep `pieces` under `key` for `take_summaries_piece` (dropping the oldest build kept
    beyond `KEPT_AT_MOST`)."""
    _kept.keep(key, pieces[::-1])
    return key


def take_summaries_piece(key: str) -> Summaries:
    """In the worker: the next piece of the summaries kept under `key` (`keep_summaries_there`)."""
    pieces = _kept.get(key)
    if not pieces:
        raise LookupError(
            f"summaries {key}: not kept in the worker process (it was restarted?); the close's "
            "next run builds them again"
        )
    piece = pieces.pop()
    if not pieces:
        del _kept[key]
    return piece


def in_pieces(summaries: Summaries, limit: int) -> list[Summaries]:
    """`summaries` in pieces of at most `limit` bytes each (a larger chart or card is a piece
    of its own): the charts first, then the cards, each in order."""
    charts = in_batches_of_bytes(list(summaries.images.items()), lambda c: len(c[1]), limit)
    cards = in_batches_of_bytes(summaries.messages, lambda m: len(m.activity_json), limit)
    return [Summaries(images=dict(batch)) for batch in charts] + [
        Summaries(messages=batch) for batch in cards
    ]


def joined(pieces: Sequence[Summaries], seconds: tuple[float, float, float]) -> Summaries:
    """The summaries that `in_pieces` cut into `pieces`, whole again."""
    return Summaries(
        [message for piece in pieces for message in piece.messages],
        {token: png for piece in pieces for token, png in piece.images.items()},
        seconds,
    )


def in_batches_of_bytes(
    items: Sequence[T], size: Callable[[T], int], limit: int = WRITE_BYTES
) -> list[list[T]]:
    """`items` in order, in consecutive batches of at most `limit` bytes by `size` (a single
    larger item is a batch of its own); no batch is empty."""
    batches: list[list[T]] = []
    current: list[T] = []
    filled = 0
    for item in items:
        grows = size(item)
        if current and filled + grows > limit:
            batches.append(current)
            current, filled = [], 0
        current.append(item)
        filled += grows
    if current:
        batches.append(current)
    return batches
