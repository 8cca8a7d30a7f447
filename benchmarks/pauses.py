"""What stops the service's event loop while the round steps run: garbage collections and the
loop's lateness, recorded with their wall times so that a slow answer can be matched to them.

- Every collection of Python's cyclic garbage collector (`gc.callbacks`): its generation, when it
  began, how long it took, how many objects it freed and which thread triggered it. A collection
  holds the GIL throughout, so it stops every thread of the process, the event loop among them.
- The event loop's lag: a timer due every `interval` seconds on the loop notes how late it ran.
  Late by L means the loop was kept from its callbacks for about L (a long callback, the GIL
  held by another thread, a collection).
- With `stacks`, a thread watches the timer's heartbeat and, while the loop is late by more than
  `stack_after`, records the loop thread's Python stack (`sys._current_frames`), at most once
  every `stack_every` seconds of one lag: what the loop was running when it stopped answering.
  It wakes every few milliseconds and needs the GIL to look, so it is off by default.

The recorder costs the loop about one timer callback every 5 ms and each collection two
callbacks; the printed figures are per phase (`summary`) and per answer (`overlapping`).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Collection:
    began: float  # wall time (time.time), comparable across processes on this machine
    seconds: float
    cpu_seconds: float  # the collecting thread's CPU time meanwhile (less: it was descheduled)
    generation: int
    collected: int
    on_loop: bool  # triggered by an allocation on the event loop's thread


@dataclass(frozen=True)
class Lag:
    ended: float  # wall time the late timer finally ran
    seconds: float  # how late: the loop was held for about [ended - seconds, ended]
    busy: float  # the loop thread's CPU time over the wall time since the timer's last run:
    # near 1, it was running callbacks; near 0, it was waiting for the GIL or a core


@dataclass(frozen=True)
class Stack:
    at: float
    late_by: float
    frames: tuple[str, ...]  # the loop thread's, innermost last, "file:line function"
    others: tuple[tuple[str, str], ...]  # (thread name, innermost frames) of the other threads


@dataclass
class PauseRecorder:
    interval: float = 0.005
    record_lag_over: float = 0.005
    stacks: bool = False
    stack_after: float = 0.015
    stack_every: float = 0.010
    collections: list[Collection] = field(default_factory=list)
    lags: list[Lag] = field(default_factory=list)
    stacks_seen: list[Stack] = field(default_factory=list)
    _gc_began: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _loop: asyncio.AbstractEventLoop | None = None
    _loop_thread: int = 0
    _timer: asyncio.TimerHandle | None = None
    _beat: float = 0.0
    _last_tick: tuple[float, float] = (0.0, 0.0)  # loop time, loop thread's CPU time
    _watching: threading.Event = field(default_factory=threading.Event)
    _watcher: threading.Thread | None = None
    old_at_end: dict[str, int] = field(default_factory=dict)

    def start(self) -> None:
        """On the event loop's thread, with the loop running."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        gc.callbacks.append(self._on_gc)
        self._beat = time.perf_counter()
        self._last_tick = (self._loop.time(), time.thread_time())
        self._timer = self._loop.call_later(self.interval, self._tick, self._loop.time())
        if self.stacks:
            self._watching.set()
            self._watcher = threading.Thread(target=self._watch, name="pause-stacks", daemon=True)
            self._watcher.start()

    def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._timer is not None:
            self._timer.cancel()
        self._watching.clear()
        if self._watcher is not None:
            self._watcher.join()

    def note_end(self, phase: str) -> None:
        """How many objects the oldest generation holds at the end of a phase (frozen ones
        aside): a full collection walks them all, and comes once those that reached it since
        the last one number a quarter of those it left there (CPython 3.11)."""
        self.old_at_end[phase] = len(gc.get_objects(generation=2))

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_began = (time.time(), time.perf_counter(), time.thread_time())
            return
        wall, began, cpu = self._gc_began
        self.collections.append(
            Collection(
                wall, time.perf_counter() - began, time.thread_time() - cpu, info["generation"],
                info["collected"], threading.get_ident() == self._loop_thread,
            )
        )  # fmt: skip

    def _tick(self, due: float) -> None:
        assert self._loop is not None
        now = self._loop.time()
        cpu = time.thread_time()
        self._beat = time.perf_counter()
        late = now - due
        if late > self.record_lag_over:
            last_time, last_cpu = self._last_tick
            self.lags.append(Lag(time.time(), late, (cpu - last_cpu) / max(now - last_time, 1e-9)))
        self._last_tick = (now, cpu)
        self._timer = self._loop.call_later(self.interval, self._tick, now + self.interval)

    def _watch(self) -> None:
        last_taken = 0.0
        while self._watching.is_set():
            time.sleep(self.interval)
            now = time.perf_counter()
            late = now - self._beat - self.interval
            if late < self.stack_after or now - last_taken < self.stack_every:
                continue
            frames = sys._current_frames()
            loop_frame = frames.pop(self._loop_thread, None)
            frames.pop(threading.get_ident(), None)
            if loop_frame is None:
                continue
            last_taken = now
            names = {t.ident: t.name for t in threading.enumerate()}
            others = tuple(
                (names.get(ident, str(ident)), " > ".join(_frames(frame)[-3:]))
                for ident, frame in frames.items()
            )
            self.stacks_seen.append(Stack(time.time(), late, _frames(loop_frame), others))

    # -- figures ---------------------------------------------------------------------------

    def summary(self, phases: Sequence[tuple[str, float, float]]) -> dict[str, dict[str, Any]]:
        """Per phase: count, total and longest collection of each generation (ms), the loop's
        worst lags (ms) and how many were over 10 and 20 ms."""
        found: dict[str, dict[str, Any]] = {}
        for name, start, end in phases:
            figures: dict[str, Any] = {"seconds": end - start}
            for generation in (0, 1, 2):
                found_here = [
                    c for c in self.collections
                    if c.generation == generation and start <= c.began <= end
                ]  # fmt: skip
                figures[f"gen{generation}"] = {
                    "count": len(found_here),
                    "total_ms": 1000 * sum(c.seconds for c in found_here),
                    "cpu_ms": 1000 * sum(c.cpu_seconds for c in found_here),
                    "max_ms": 1000 * max((c.seconds for c in found_here), default=0.0),
                    "collected": sum(c.collected for c in found_here),
                }
            lags = sorted(
                (lag for lag in self.lags if start <= lag.ended <= end),
                key=lambda lag: -lag.seconds,
            )
            figures["lag_worst_ms"] = [1000 * lag.seconds for lag in lags[:5]]
            figures["lag_over_10ms"] = sum(1 for lag in lags if lag.seconds > 0.010)
            figures["lag_over_20ms"] = sum(1 for lag in lags if lag.seconds > 0.020)
            over_10 = [lag for lag in lags if lag.seconds > 0.010]
            figures["lag_over_10ms_busy"] = (
                statistics.mean(lag.busy for lag in over_10) if over_10 else float("nan")
            )
            figures["old_at_end"] = self.old_at_end.get(name, -1)
            found[name] = figures
        return found

    def overlapping(self, began: float, ended: float) -> list[str]:
        """What stopped the loop while an answer was in flight (wall times, seconds): any
        collection over 5 ms, any lag over 10 ms."""
        found = [
            f"gen{c.generation} {1000 * c.seconds:.0f}ms"
            for c in self.collections
            if c.seconds > 0.005 and c.began < ended and c.began + c.seconds > began
        ]
        found += [
            f"lag {1000 * lag.seconds:.0f}ms"
            for lag in self.lags
            if lag.seconds > 0.010 and lag.ended - lag.seconds < ended and lag.ended > began
        ]
        return found

    def stacks_during(self, began: float, ended: float) -> list[Stack]:
        return [s for s in self.stacks_seen if began <= s.at <= ended]


PROJECT = str(Path(__file__).resolve().parent.parent) + "/"


def _frames(frame: Any) -> tuple[str, ...]:
    return tuple(
        f"{_short(f.filename)}:{f.lineno} {f.name}" for f in traceback.extract_stack(frame)
    )


def _short(filename: str) -> str:
    """The project's files by their path in it; any other with a leading "~" (site-packages'
    from the package's folder, the standard library's by file name)."""
    if filename.startswith(PROJECT) and "/.venv/" not in filename:
        return filename[len(PROJECT) :]
    if "site-packages/" in filename:
        return "~" + filename.split("site-packages/", 1)[1]
    return "~" + filename.rsplit("/", 1)[-1]


def format_phase(name: str, figures: dict[str, Any]) -> str:
    """One printed line per phase."""
    generations = ", ".join(
        f"gen{g} {figures[f'gen{g}']['count']} ({figures[f'gen{g}']['total_ms']:.0f} ms, "
        f"cpu {figures[f'gen{g}']['cpu_ms']:.0f}, max {figures[f'gen{g}']['max_ms']:.1f}, "
        f"freed {figures[f'gen{g}']['collected']})"
        for g in (0, 1, 2)
    )
    worst = ", ".join(f"{ms:.0f}" for ms in figures["lag_worst_ms"]) or "none over 5"
    return (
        f"  {name:<10} {figures['seconds']:6.1f} s: collections {generations}; loop lag worst "
        f"{worst} ms, over 10 ms {figures['lag_over_10ms']} (loop busy "
        f"{figures['lag_over_10ms_busy']:.0%} of them), over 20 ms {figures['lag_over_20ms']}; "
        f"oldest generation at the end {figures['old_at_end']} objects"
    )
