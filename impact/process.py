"""Process-wide settings for a long-running service process.

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
"""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 10_000  # Python's default is 700 allocations


def settle_startup_objects() -> None:
    """Once the service has been built, before it serves (create_app's startup hook)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
