"""Python's cyclic garbage collector, as every worker runs it.

By default Python makes a young collection every 700 new container objects, and every
hundredth of them is a full one that walks the whole heap (the app, SQLAlchemy's and
Pydantic's models, the projection cache). A report at 10M stops allocates enough to take one
every third run (+70 ms on ~80); SQLite's event writer spends less CPU with them spaced out
(bench/RESULTS.md, session 18). What waits longer meanwhile is cyclic garbage only, a few MB
at most: everything else is freed by reference counting as before.
"""

import gc

THRESHOLDS = (50_000, 20, 20)


def space_out_collections() -> None:
    """This process's collector thresholds: set by create_app, once per worker."""
    gc.set_threshold(*THRESHOLDS)
