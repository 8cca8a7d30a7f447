"""How long a short write waits for SQLite's write lock while another process writes often.

With the outbox sender in a process of its own, the service's answers and the sender's one-row
outcomes (`mark_sent`, hundreds a second while a round opens) take turns at SQLite's one write
lock across processes. A writer that finds the lock taken waits in SQLite's busy handler, which
(sqlite3_busy_timeout) sleeps 1, 2, 5, 10, 15, 20, 25, ... ms between tries whatever the holder
does: a lock held for half a millisecond can cost the waiter 1, 3, 8 or 18 ms.

This measures one short write transaction (BEGIN IMMEDIATE, one INSERT, COMMIT) every 20 ms in
this process, alone and while another process commits `--rate` one-row transactions a second,
waiting (a) in SQLite's busy handler, as store.db configured it until 30 November, and (b) by
trying again itself every 0.2 ms and then less often (store.db.begin_immediate).

    python benchmarks/sqlite_busy_wait.py [--rate 500] [--hold-ms 0.3] [--samples 1500]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from store.db import begin_immediate


def connect(path: str, busy_ms: int) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=busy_ms / 1000)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(f"PRAGMA busy_timeout={busy_ms}")
    return connection


def other_writer(path: str, rate: float, hold: float, stop: Callable[[], bool]) -> None:
    connection = connect(path, 15_000)
    period = 1.0 / rate
    due = time.perf_counter()
    n = 0
    while not stop():
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("UPDATE other SET v = v + 1 WHERE id = ?", (n % 100,))
        if hold:
            time.sleep(hold)  # the Python between a statement and its COMMIT (SQLAlchemy's)
        connection.execute("COMMIT")
        n += 1
        due += period
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)


def _writer_process(
    path: str, rate: float, hold: float, stopped: multiprocessing.synchronize.Event
) -> None:
    other_writer(path, rate, hold, stopped.is_set)


def measure(path: str, samples: int, begin: Callable[[sqlite3.Connection], None]) -> list[float]:
    connection = connect(path, 15_000)
    times = []
    for k in range(samples):
        started = time.perf_counter()
        begin(connection)
        connection.execute("INSERT INTO answers (v) VALUES (?)", (k,))
        connection.execute("COMMIT")
        times.append((time.perf_counter() - started) * 1000)
        time.sleep(0.02)
    connection.close()
    return times


def busy_handler(connection: sqlite3.Connection) -> None:
    connection.execute("BEGIN IMMEDIATE")


def own_retries(connection: sqlite3.Connection) -> None:
    begin_immediate(connection, busy_ms=15_000)


def summary(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return (
        f"{name:44s} p50 {statistics.median(ordered):6.2f}  p99 {p99:6.2f}  "
        f"max {ordered[-1]:6.2f} ms  (n={len(ordered)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--samples", type=int, default=1500)
    parser.add_argument(
        "--hold-ms", type=float, default=0.3, help="the other writer's lock held this much longer"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "busy.db")
        setup = connect(path, 15_000)
        setup.execute("CREATE TABLE other (id INTEGER PRIMARY KEY, v INTEGER)")
        setup.execute("CREATE TABLE answers (id INTEGER PRIMARY KEY, v INTEGER)")
        setup.executemany("INSERT INTO other VALUES (?, 0)", [(i,) for i in range(100)])
        setup.close()
        print(
            f"SQLite {sqlite3.sqlite_version}, {platform.machine()}, {os.cpu_count()} cores; "
            f"one write every 20 ms, {args.samples} samples; the other process: "
            f"{args.rate:.0f} one-row transactions a second, each holding the lock "
            f"{args.hold_ms} ms longer"
        )
        for name, begin in (("SQLite's busy handler", busy_handler), ("own retries", own_retries)):
            print(summary(f"alone, {name}", measure(path, args.samples // 3, begin)))
            stopped = multiprocessing.get_context("spawn").Event()
            writer = multiprocessing.get_context("spawn").Process(
                target=_writer_process, args=(path, args.rate, args.hold_ms / 1000, stopped)
            )
            writer.start()
            time.sleep(0.5)
            try:
                print(
                    summary(f"beside the other writer, {name}", measure(path, args.samples, begin))
                )
            finally:
                stopped.set()
                writer.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
