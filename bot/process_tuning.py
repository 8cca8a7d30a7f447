"""Process-wide settings for a long-running service process: the service (create_app's startup
hook) and its outbox sender process (`impact-bot outbox send`, once its sender is built).

Python's cyclic garbage collector walks every container object it tracks in its oldest
generation when it runs a full collection. A started service holds about 180,000 such objects
that live as long as the process (modules, classes, the framework's content, SQLAlchemy's and
the SDK's caches), and each turn allocates enough short-lived containers (msrest models, copied
activities, ORM rows) to trigger a full collection every few hundred turns: profiles of the
answer benchmark showed a tenth of a turn's CPU in the collector, most of it re-walking those
startup objects. Freezing them once, after start-up, takes them out of every later collection
(they are still freed normally if they ever become unreachable by reference counting); the
young generation's threshold is raised so short-lived objects die by reference counting before
a collection looks at them.

Measured since (benchmarks/trust_scale.py prints every collection per phase): at 3,000 and
5,000 people no full collection ran during a round's steps, and the young collections that did
were made costly by msrest's per-call Serializers and Deserializers, reference cycles that only
the collector frees (bot/activity_codec.py shares one of each instead).

The GIL's switch interval is shortened from CPython's 5 ms to 1 ms. A thread that gives up the
GIL for I/O (the event loop at each socket read, a database thread at each statement) must get
it back from whichever thread holds it, and a thread running Python code keeps it for up to a
switch interval. While a round step computes on a database thread (deciding 6,000 nudges,
computing 300 teams' results), a turn, which hands the GIL over some fifteen times, waited up to
5 ms at each (issue 13: an answer's p99 while the steps run; trust_scale.py measures it).
"""

from __future__ import annotations

import gc
import sys

YOUNG_GENERATION_THRESHOLD = 10_000  # Python's default is 700 allocations
SWITCH_INTERVAL_SECONDS = 0.001  # Python's default is 0.005


def tune_gc_and_gil_for_serving() -> None:
    """Freeze the objects built so far out of the collector's walks, raise the young generation's
    threshold and shorten the GIL's switch interval: once the service has been built, before it
    serves (create_app's startup hook)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
