"""Drawing a round's charts away from the event loop and the database: in worker processes, as
many as the machine has cores, so a close with hundreds of teams never blocks a turn and uses
every core."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from framework.content import Framework
from rounds.rules.results import RoundResults
from rounds.services.charts import team_chart

Chart = tuple[bytes, str]  # PNG, alt text

# Below this many teams, starting worker processes costs more than it saves: draw on a thread.
IN_PROCESS_UP_TO = 8


def draw_charts(
    results: RoundResults, team_ids: Sequence[int], framework: Framework
) -> list[Chart]:
    """The charts of these teams, in order (what each worker runs)."""
    return [team_chart(results, team_id, framework) for team_id in team_ids]


async def draw_team_charts(
    results: RoundResults, team_ids: Sequence[int], framework: Framework
) -> dict[int, Chart]:
    """Each team's chart and alt text, by team id, drawn off the event loop."""
    if len(team_ids) <= IN_PROCESS_UP_TO:
        charts = await asyncio.to_thread(draw_charts, results, team_ids, framework)
        return dict(zip(team_ids, charts, strict=True))
    workers = max(1, min(os.cpu_count() or 1, len(team_ids)))
    chunks = [list(team_ids[i::workers]) for i in range(workers)]
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        drawn = await asyncio.gather(
            *(
                loop.run_in_executor(pool, draw_charts, results, chunk, framework)
                for chunk in chunks
            )
        )
    finally:
        await asyncio.to_thread(pool.shutdown)  # joining the workers off the loop too
    found: dict[int, Chart] = {}
    for chunk, charts in zip(chunks, drawn, strict=True):
        found.update(zip(chunk, charts, strict=True))
    return found
