"""Does a lower-priority process holding SQLite's write lock make the service's writes wait?

The outbox sender runs in a process of its own at nice 10 (IMPACT_SENDER_NICENESS), so that it
gives the cores to the service that answers people. On SQLite the two share one write lock: each
of the sender's outcomes is a short write transaction. If the kernel takes the core from the
sender while it holds the lock (the cores are busy with the service, PostgreSQL or the
simulated Teams), every writer waits until a nice-10 process is given a core again: a priority
inversion, which nice 0 would not have.

This measures one short write transaction (BEGIN IMMEDIATE, one INSERT, COMMIT) every 20 ms in
this process (nice 0), while another process commits `--rate` one-row transactions a second at
nice 0 and then at nice 10, with `--busy` processes at nice 0 keeping the cores busy. It prints
the waits of this process's writes and the other process's longest hold of the lock.

    python benchmarks/sqlite_nice_holder.py [--rate 300] [--busy 2] [--samples 1000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.synchronize
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection

HOLD_SECONDS = 0.0003  # the Python between a statement and its COMMIT (SQLAlchemy's)


def connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=15)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def other_writer(
    path: str, rate: float, nice: int, stopped: multiprocessing.synchronize.Event, out: Connection
) -> None:
    """Short write transactions at `rate` a second, at `nice`; sends back its longest hold."""
    os.nice(nice)
    connection = connect(path)
    period, due, n, longest = 1.0 / rate, time.perf_counter(), 0, 0.0
    while not stopped.is_set():
        connection.execute("BEGIN IMMEDIATE")
        held = time.perf_counter()
        connection.execute("UPDATE other SET v = v + 1 WHERE id = ?", (n % 100,))
        end = time.perf_counter() + HOLD_SECONDS
        while time.perf_counter() < end:  # on a core, as Python is
            pass
        connection.execute("COMMIT")
        longest = max(longest, time.perf_counter() - held)
        n += 1
        due += period
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        else:
            due = time.perf_counter()
    out.send((longest * 1000, n))


def keep_busy(stopped: multiprocessing.synchronize.Event) -> None:
    while not stopped.is_set():
        sum(range(10_000))


def measure(path: str, samples: int) -> list[float]:
    connection = connect(path)
    times = []
    for k in range(samples):
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO answers (v) VALUES (?)", (k,))
        connection.execute("COMMIT")
        times.append((time.perf_counter() - started) * 1000)
        time.sleep(0.02)
    connection.close()
    return times


def run(path: str, args: argparse.Namespace, nice: int) -> str:
    spawn = multiprocessing.get_context("spawn")
    stopped = spawn.Event()
    receive, send = spawn.Pipe(duplex=False)
    writer = spawn.Process(target=other_writer, args=(path, args.rate, nice, stopped, send))
    hogs = [spawn.Process(target=keep_busy, args=(stopped,)) for _ in range(args.busy)]
    for process in (writer, *hogs):
        process.start()
    time.sleep(1.0)
    try:
        times = measure(path, args.samples)
    finally:
        stopped.set()
        longest, commits = receive.recv()
        for process in (writer, *hogs):
            process.join(10)
    ordered = sorted(times)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return (
        f"other writer at nice {nice:2d}: this process's write p50 "
        f"{statistics.median(ordered):6.2f}  p99 {p99:7.2f}  max {ordered[-1]:7.2f} ms; "
        f"the other's longest hold {longest:7.2f} ms over {commits} commits"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--busy", type=int, default=2, help="processes keeping the cores busy")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="each niceness this many times")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "nice.db")
        setup = connect(path)
        setup.execute("CREATE TABLE other (id INTEGER PRIMARY KEY, v INTEGER)")
        setup.execute("CREATE TABLE answers (id INTEGER PRIMARY KEY, v INTEGER)")
        setup.executemany("INSERT INTO other VALUES (?, 0)", [(i,) for i in range(100)])
        setup.close()
        print(
            f"SQLite {sqlite3.sqlite_version}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; "
            f"one write every 20 ms, {args.samples} samples; the other process: "
            f"{args.rate:.0f} one-row transactions a second; {args.busy} busy processes at nice 0"
        )
        for _ in range(args.rounds):
            for nice in (0, 10):
                print(run(path, args, nice), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
