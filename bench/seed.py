"""How fast the demo world loads: `clearance seed-demo` at scale, on SQLite and PostgreSQL.

    .venv/bin/python bench/seed.py --shipments 285000 --db sqlite postgres
    .venv/bin/python bench/seed.py --shipments 20000 --db sqlite --profile  # + py-spy stacks

Each database is fresh and migrated; the time is the generator's whole run (trips made in
worker processes, rows written by this one, indexes built at the end), as `seed-demo` runs it.
With --profile, py-spy samples this process and its workers (raw collapsed stacks in
bench/out/seed-profile-<db>.txt; each stack starts with its process).
"""

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alembic import command  # noqa: E402

from app.auth.passwords import Passwords  # noqa: E402
from app.cli import alembic_config  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import create_db_engine, make_session_factory  # noqa: E402
from app.demo import generator  # noqa: E402
from bench import databases  # noqa: E402
from bench.profiling import py_spy  # noqa: E402


def time_seed(
    db: str, shipments: int, name: str = "seed", profile: bool = False
) -> dict[str, float]:
    url = databases.url_for(db, name)
    databases.recreate(db, url)
    command.upgrade(alembic_config(url), "head")
    settings = Settings(database_url=url, secret_key="bench-" + "x" * 40)
    engine = create_db_engine(settings)
    try:
        with make_session_factory(engine)() as session, profiled(db, profile):
            started = time.perf_counter()
            written = generator.seed(
                session, passwords=Passwords(settings), shipments=shipments, seed=7
            )
            seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return {**{k: float(v) for k, v in written.items()}, "seconds": seconds}


@contextmanager
def profiled(db: str, profile: bool) -> Iterator[None]:
    """With --profile: this process and its workers, sampled while the load runs."""
    if not profile:
        yield
        return
    out = databases.OUT / f"seed-profile-{db}.txt"
    with py_spy(os.getpid(), out, "--subprocesses", rate=50):
        yield


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--shipments", type=int, default=285_000, help="about 1M stops")
    parser.add_argument("--profile", action="store_true", help="py-spy the load")
    args = parser.parse_args(argv)
    results = {}
    for db in args.db:
        result = results[db] = time_seed(db, args.shipments, profile=args.profile)
        print(
            f"{db:9} {result['stops']:>10,.0f} stops  {result['events']:>11,.0f} events  "
            f"{result['seconds']:7.1f} s  ({result['stops'] / result['seconds']:,.0f} stops/s)"
        )
    return results


if __name__ == "__main__":
    main()
