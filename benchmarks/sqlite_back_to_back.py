"""Can a writer that commits transaction after transaction keep another process's writer out of
SQLite's write lock for longer than any one transaction holds it?

The service's writes wait for another process's write lock in `store.db.begin_immediate`,
trying again every 0.2 ms, then at most every 0.5 ms (1 ms until 1 December). SQLite does not
queue waiters: whoever tries first after a COMMIT gets the lock. A step that writes its parts
back to back (a close's charts and summaries, a due tick's nudges) begins its next transaction
a fraction of a millisecond after its COMMIT, so a waiter sleeping between its tries may miss
every free moment, whatever the length of each transaction.

This runs a holder process that commits transactions of `--hold` ms back to back, leaving a
gap of 0 ms, then 0.5, 0.75 and 1.5 ms, after each COMMIT, while this process begins a write
transaction every 10 ms, as the service does, and records how long each waited.

    python benchmarks/sqlite_back_to_back.py [--hold 30] [--seconds 6]
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.synchronize
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make store/ importable
    sys.path.insert(0, str(ROOT))

from store.db import begin_immediate  # noqa: E402

GAPS_MS = (0.0, 0.5, 0.75, 1.5)


def connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA busy_timeout=0")
    return connection


def hold_back_to_back(
    path: str, hold: float, gap: float, stop: multiprocessing.synchronize.Event
) -> None:
    """Transactions of `hold` seconds, `gap` seconds apart, until `stop`."""
    connection = connect(path)
    while not stop.is_set():
        begin_immediate(connection)
        connection.execute("INSERT INTO t VALUES (1)")
        time.sleep(hold)
        connection.execute("COMMIT")
        if gap:
            time.sleep(gap)


def waits_beside(path: str, hold: float, gap: float, seconds: float) -> list[float]:
    """This process's waits for the lock (seconds), a write every 10 ms, beside the holder."""
    stop = multiprocessing.Event()
    holder = multiprocessing.Process(target=hold_back_to_back, args=(path, hold, gap, stop))
    holder.start()
    connection = connect(path)
    waits: list[float] = []
    ends = time.monotonic() + seconds
    try:
        while time.monotonic() < ends:
            time.sleep(0.01)
            began = time.perf_counter()
            begin_immediate(connection)
            waits.append(time.perf_counter() - began)
            connection.execute("ROLLBACK")
    finally:
        stop.set()
        holder.join()
        connection.close()
    return waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--hold", type=float, default=30.0, help="ms each transaction holds")
    parser.add_argument("--seconds", type=float, default=6.0, help="per gap")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "back_to_back.db")
        setup = sqlite3.connect(path, isolation_level=None)
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE t (x)")
        setup.close()
        for gap_ms in GAPS_MS:
            waits = sorted(waits_beside(path, args.hold / 1000, gap_ms / 1000, args.seconds))
            print(
                f"holds of {args.hold:.0f} ms, {gap_ms:g} ms apart: a write every 10 ms here "
                f"waited median {statistics.median(waits) * 1000:.1f} ms, max "
                f"{waits[-1] * 1000:.1f} ms ({len(waits)} writes in {args.seconds:.0f} s)"
            )


if __name__ == "__main__":
    main()
