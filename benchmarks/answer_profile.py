"""Where an answer turn's CPU goes (benchmarks/answer_roundtrip.py), on SQLite or PostgreSQL.

`CpuSplit`, in every impact-bot run: the CPU time of the event loop's thread, of each database
worker thread and of the process over the concurrent phase, so the CPU per turn splits between
the loop and the database threads (each thread's `time.thread_time`, read on that thread).

`TurnProfile`, with `--profile`, adds pyinstrument: during the concurrent phase it samples the
event loop's thread (HTML report written to artifacts/profile-answer-<backend>.html, text
printed) and every database worker thread, one profiler per thread (a pyinstrument profiler
samples only the thread that started it), merged into one text report: the event loop sees
database work only as waiting. SQLite's pool has one worker thread, PostgreSQL's up to the pool
size (8).

Each worker is read (and its profiler started and stopped) on that worker: as many tasks as
there are worker threads are submitted through `Database.run`, and each waits at a barrier until
all have arrived, so no worker can take two of them. A connection-checkout listener notes every
thread that did database work in the phase, and the report names any that was not read.

The database threads are sampled in CPU time (`time.thread_time`): eight threads sharing the GIL
spend most of their wall time waiting for it or for PostgreSQL, which would swamp what they
compute. The event loop's thread is sampled in wall time (waiting to get the GIL back after a C
call, such as `socket.send`, then shows up in that call's frame), or in CPU time with
`--profile-clock cpu`. Reading a thread's CPU clock at every call and return is costly, so the
split printed under the profiler overstates the database threads.
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from pyinstrument.renderers import ConsoleRenderer
from pyinstrument.session import Session
from pyinstrument.stack_sampler import get_stack_sampler
from sqlalchemy import event

from store.db import Database

INTERVAL_S = 0.0005
DB_WORKER = re.compile(r"db_\d+")  # store.db's pool: ThreadPoolExecutor(thread_name_prefix="db")
BARRIER_TIMEOUT_S = 5.0


@dataclass
class _Worker:
    name: str
    cpu_at_start: float  # time.thread_time; 0 for a worker started during the phase
    cpu_s: float | None = None  # over the phase, once read at its end
    profiler: Profiler | None = None
    session: Session | None = None


def db_worker_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if DB_WORKER.fullmatch(t.name))


class CpuSplit:
    """A `Bracket` for the concurrent phase: the CPU time of the event loop's thread, of each
    database worker thread (read on the worker itself) and of the whole process over it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.workers: dict[int, _Worker] = {}
        self.worked: set[str] = set()  # threads that checked out a connection during the phase
        self._lock = threading.Lock()
        self._at_start = (0.0, 0.0, 0.0)  # loop thread CPU, process CPU, wall
        self._at_stop = (0.0, 0.0, 0.0)

    async def start(self) -> None:
        count = max(len(db_worker_threads()), 1)
        barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT_S)
        await self._on_each_worker(count, functools.partial(self._start_here, barrier))
        event.listen(self.db.engine, "checkout", self._checked_out)
        self._loop_starts()
        self._at_start = (time.thread_time(), time.process_time(), time.perf_counter())

    async def stop(self) -> None:
        self._at_stop = (time.thread_time(), time.process_time(), time.perf_counter())
        self._loop_stops()
        event.remove(self.db.engine, "checkout", self._checked_out)
        count = max(len(db_worker_threads()), 1)  # with any the pool started during the phase
        for _ in range(3):  # a task may land on a worker already read: try again
            barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT_S)
            await self._on_each_worker(count, functools.partial(self._stop_here, barrier))
            count = sum(1 for worker in self.workers.values() if worker.cpu_s is None)
            if not count:
                break

    async def _on_each_worker(self, count: int, work: Callable[[Any], None]) -> None:
        await asyncio.gather(*(self.db.run(work) for _ in range(count)))

    def _start_here(self, barrier: threading.Barrier, _session: Any) -> None:
        with suppress(threading.BrokenBarrierError):
            barrier.wait()  # every task holds its worker until all have one: no worker twice
        ident = threading.get_ident()
        with self._lock:
            if ident in self.workers:
                return
            worker = _Worker(threading.current_thread().name, time.thread_time())
            self.workers[ident] = worker
        self._worker_starts(worker)

    def _stop_here(self, barrier: threading.Barrier, _session: Any) -> None:
        with suppress(threading.BrokenBarrierError):
            barrier.wait()
        ident = threading.get_ident()
        with self._lock:
            worker = self.workers.setdefault(ident, _Worker(threading.current_thread().name, 0.0))
        if worker.cpu_s is None:
            self._worker_stops(worker)
            worker.cpu_s = time.thread_time() - worker.cpu_at_start

    def _checked_out(self, *_args: Any) -> None:
        self.worked.add(threading.current_thread().name)

    # hooks for the profiler, each on its own thread
    def _loop_starts(self) -> None: ...

    def _loop_stops(self) -> None: ...

    def _worker_starts(self, worker: _Worker) -> None: ...

    def _worker_stops(self, worker: _Worker) -> None: ...

    # -- figures ----------------------------------------------------------------------------

    def split_ms(self, turns: int) -> dict[str, float]:
        """CPU ms per turn: the process, the loop's thread, the database threads, the rest."""
        per = 1000 / turns if turns else float("nan")
        loop_s = self._at_stop[0] - self._at_start[0]
        process_s = self._at_stop[1] - self._at_start[1]
        db_s = sum(w.cpu_s or 0.0 for w in self.workers.values())
        return {
            "process": process_s * per,
            "event_loop_thread": loop_s * per,
            "database_threads": db_s * per,
            "other_threads": (process_s - loop_s - db_s) * per,
            "database_threads_read": len([w for w in self.workers.values() if w.cpu_s is not None]),
            "cores_busy": process_s / (self._at_stop[2] - self._at_start[2]),
        }

    def unread(self) -> list[str]:
        """Threads that did database work in the phase but whose CPU was not read."""
        read = {w.name for w in self.workers.values() if w.cpu_s is not None}
        return sorted(self.worked - read)


def split_line(split: dict[str, float]) -> str:
    return (
        f"process {split['process']:.2f} = event-loop thread {split['event_loop_thread']:.2f} + "
        f"database threads {split['database_threads']:.2f} "
        f"({split['database_threads_read']:.0f} read) + other threads "
        f"{split['other_threads']:.2f} ms per turn; {split['cores_busy']:.2f} cores busy"
    )


class TurnProfile(CpuSplit):
    """`CpuSplit`, and pyinstrument on the loop's thread and on every database worker."""

    def __init__(self, db: Database, html: Path, *, loop_clock: str = "wall") -> None:
        super().__init__(db)
        self.html = html
        self.loop_clock = loop_clock
        self.loop_profiler = Profiler(interval=INTERVAL_S, async_mode="disabled")

    def _loop_starts(self) -> None:
        _clock(self.loop_clock)
        self.loop_profiler.start()

    def _loop_stops(self) -> None:
        self.loop_profiler.stop()
        _clock("wall")

    def _worker_starts(self, worker: _Worker) -> None:
        worker.profiler = Profiler(interval=INTERVAL_S, async_mode="disabled")
        _clock("cpu")
        worker.profiler.start()

    def _worker_stops(self, worker: _Worker) -> None:
        if worker.profiler is not None:
            worker.session = worker.profiler.stop()
            _clock("wall")

    # -- the report -------------------------------------------------------------------------

    def report(self, turns: int, lines: int) -> str:
        """The CPU split per turn, then the top `lines` of the loop's and the merged DB threads'
        reports; writes the loop's HTML."""
        self.html.parent.mkdir(parents=True, exist_ok=True)
        self.html.write_text(self.loop_profiler.output_html(), encoding="utf-8")
        renderer = ConsoleRenderer(unicode=True, color=False)
        loop_text = renderer.render(self.loop_profiler.last_session)  # type: ignore[arg-type]
        profiled = [w for w in self.workers.values() if w.session is not None]
        names = ", ".join(sorted(w.name for w in profiled))
        db_heading = f"== database worker threads, {len(profiled)} merged: {names} (CPU time) =="
        db_text = "(no database thread was profiled)"
        if profiled:
            cpu_s = sum(w.cpu_s or 0.0 for w in profiled)
            sessions = [w.session for w in profiled if w.session is not None]
            merged, busy_s, sampled_s = merged_work(sessions, cpu_s)
            db_heading += (
                f"\n(units of work only: {busy_s:.3f} s of the {sampled_s:.3f} CPU seconds "
                "sampled; the rest in the workers' own loop)"
            )
            db_text = renderer.render(merged)
        parts = [
            "CPU in the concurrent phase, under the profiler (its CPU-time sampling of the "
            "database threads adds much to theirs; a run without --profile prints the split "
            "unprofiled): " + split_line(self.split_ms(turns)),
            f"== event loop thread ({self.loop_clock} time; {self.html.name}) ==",
            _top(loop_text, lines),
            db_heading,
            _top(db_text, lines),
        ]
        if missed := sorted(self.worked - {w.name for w in profiled}):
            parts.append(f"NOT profiled, though they did database work: {', '.join(missed)}")
        return "\n".join(parts)


def _clock(clock: str) -> None:
    """What this thread's pyinstrument samples measure from its next start: "cpu", the
    thread's CPU time (`time.thread_time`, so neither waiting for the GIL nor for the database
    counts), or "wall" (its default). The timer is a setting of pyinstrument's per-thread
    sampler (5.x), read when sampling starts."""
    get_stack_sampler().timer_func = time.thread_time if clock == "cpu" else None


WORK_FRAME = "_run_attempt\x00"  # Database._run_attempt: one unit of work, on a worker


def merged_work(sessions: list[Session], cpu_s: float) -> tuple[Session, float, float]:
    """The workers' samples as one tree: each sample's thread frame made the same, and only
    the samples inside a unit of work kept (idle waiting would swamp the rest); its CPU time
    the threads' own, `cpu_s`. Returns the session and the seconds kept and sampled.
    (pyinstrument 5's frame records: a list of frame identifiers, the first naming the thread,
    and the time.)"""
    merged = functools.reduce(Session.combine, sessions)
    thread = "db workers\x00<thread>\x000"
    records = [
        ([thread, *stack[1:]], seconds)
        for stack, seconds in merged.frame_records
        if any(frame.startswith(WORK_FRAME) for frame in stack)
    ]
    busy = sum(seconds for _, seconds in records)
    sampled = sum(seconds for _, seconds in merged.frame_records)
    work = Session(
        frame_records=records or merged.frame_records,
        start_time=merged.start_time,
        min_interval=merged.min_interval,
        max_interval=merged.max_interval,
        duration=busy,
        sample_count=len(records),
        start_call_stack=merged.start_call_stack,
        target_description=merged.target_description,
        cpu_time=cpu_s,  # each session's is the whole process's
        sys_path=merged.sys_path,
        sys_prefixes=merged.sys_prefixes,
    )
    return work, busy, sampled


def _top(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[:lines])
