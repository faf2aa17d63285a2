"""How many reports one worker computes at once (REPORT_CONCURRENCY).

A report over ten million stops holds its cells' values while it computes (tens of megabytes
of sorted dwell times for the commodity, procedure and trend reports), and the dashboard asks
for six reports at the same moment: computed all at once, one worker peaked at 792 MB. They
share the worker's one interpreter lock all the same, so taking turns costs only the overlap
of one report's Python with another's database work (at 10M stops the dashboard drew in
~3.9 s one at a time against ~3.0 s with no limit, bench/RESULTS.md, session 13), and keeps
a worker's memory at its start plus a report or two. A thread that asks for a place
while it holds one (a report built from others) keeps the one it has rather than wait for
itself."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_slots: dict[int, threading.BoundedSemaphore] = {}
_made = threading.Lock()
_held = threading.local()


@contextmanager
def report_slot(concurrency: int) -> Iterator[None]:
    """A place among `concurrency` for the report this thread computes; 0: no limit."""
    depth = getattr(_held, "depth", 0)
    if concurrency <= 0 or depth:
        _held.depth = depth + 1
        try:
            yield
        finally:
            _held.depth = depth
        return
    with _made:
        slots = _slots.setdefault(concurrency, threading.BoundedSemaphore(concurrency))
    with slots:
        _held.depth = 1
        try:
            yield
        finally:
            _held.depth = 0
