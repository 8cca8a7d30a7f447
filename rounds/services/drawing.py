"""Drawing a round's charts away from the event loop and outside any transaction: on a pool of
threads as many as the machine has cores, a share of the teams each, so a close with hundreds of
teams never blocks a turn. Most of a chart's time is Pillow's C code (PNG encoding, font
rendering), which runs without the GIL, so the threads use the cores. Where the service has a
worker process for long reads (store.process_reads), the close draws them on threads there
(rounds.services.summaries), so their Python holds that process's GIL, not the service's. (A
pool of worker processes just for drawing was tried: with `forkserver` or `spawn` each worker
re-imports the service's main module and takes seconds to start, more than the drawing itself
for a round of a few dozen teams; `fork` is unsafe in a process with threads.)"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from framework.content import Framework
from rounds.rules.results import RoundResults
from rounds.services.charts import team_chart

Chart = tuple[bytes, str]  # PNG, alt text


def draw_charts(
    results: RoundResults, team_ids: Sequence[int], framework: Framework
) -> list[Chart]:
    """The charts of these teams, in order (what each thread runs)."""
    return [team_chart(results, team_id, framework) for team_id in team_ids]


def draw_charts_on_threads(
    results: RoundResults, team_ids: Sequence[int], framework: Framework
) -> dict[int, Chart]:
    """Each team's chart and alt text, by team id, drawn on a pool of threads (a share of the
    teams each) while the caller waits: in the close's worker process, whose GIL is its own."""
    if not team_ids:
        return {}
    workers = max(1, min(os.cpu_count() or 1, len(team_ids)))
    chunks = [list(team_ids[i::workers]) for i in range(workers)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="charts") as pool:
        drawn = list(pool.map(lambda chunk: draw_charts(results, chunk, framework), chunks))
    found: dict[int, Chart] = {}
    for chunk, charts in zip(chunks, drawn, strict=True):
        found.update(zip(chunk, charts, strict=True))
    return found


async def draw_team_charts(
    results: RoundResults, team_ids: Sequence[int], framework: Framework
) -> dict[int, Chart]:
    """Each team's chart and alt text, by team id, drawn off the event loop."""
    if not team_ids:
        return {}
    return await asyncio.to_thread(draw_charts_on_threads, results, team_ids, framework)
