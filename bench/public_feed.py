"""The public feed at scale: what a request costs everyone, and what computing it costs.

    .venv/bin/python -m bench.public_feed --stops 1000000 --db sqlite postgres --reuse

On bench/reports.py's databases (bench/synthetic_stops.py: departures over 600 days from
2025-01-01; `--reuse` keeps a loaded one), with the feed's clock set inside that span (60
days before its end, 14:20 UTC), so its last six hours and its eight weeks hold what the
data holds there. Timed, each the median of --repeat runs after a warm-up, wall and CPU:

- `served`: GET /api/v1/public/checkpoints over HTTP (TestClient: the middleware, routing,
  the rate limit, the JSON, the ETag) as everyone gets it: from the worker's one-minute cache;
- `revalidated`: the same with the ETag (a 304);
- `health`: GET /healthz on the same app, the floor of any request here (the ratio's
  reference for the two above);
- `windows`: the last six hours' cells, arrivals and trucks now computed afresh (what a
  worker does once a minute), and DuckDB computing the same windows' figures from the same
  stops (copied into it beforehand, untimed) as its reference;
- `forecast`: the eight weeks' cells by hour of the week (once an hour), and DuckDB's.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app import privacy  # noqa: E402
from app.main import create_app  # noqa: E402
from app.public import feed  # noqa: E402
from app.tracking.models import Stop  # noqa: E402
from bench.reports import load_average, prepare, settings_for  # noqa: E402
from bench.synthetic_stops import CREATED, DAYS  # noqa: E402

NOW = CREATED + timedelta(days=DAYS - 60, hours=14, minutes=20)
FEED = "/api/v1/public/checkpoints"


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Median wall and CPU milliseconds of `repeat` runs after one warm-up."""
    fn()
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return {"wall_ms": statistics.median(walls) * 1e3, "cpu_ms": statistics.median(cpus) * 1e3}


def stops_into_duckdb(session: Any) -> duckdb.DuckDBPyConnection:
    """The stops' columns the feed reads, every stop, as an Arrow table in DuckDB."""
    rows = session.execute(
        select(
            Stop.checkpoint_id, Stop.organization_id, Stop.arrived_at, Stop.closed_at,
            Stop.dwell_minutes,
        )
    ).all()  # fmt: skip
    columns = list(zip(*rows, strict=True))
    table = pa.table(
        {
            "checkpoint_id": [str(v) for v in columns[0]],
            "organization_id": [str(v) for v in columns[1]],
            "arrived_at": pa.array(columns[2], pa.timestamp("us", tz="UTC")),
            "closed_at": pa.array(columns[3], pa.timestamp("us", tz="UTC")),
            "dwell_minutes": pa.array(columns[4], pa.float64()),
        }
    )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("stops_arrow", table)
    con.execute("CREATE TABLE stops AS SELECT * FROM stops_arrow")
    return con


# The hour cells that pass, then per checkpoint the window's figures over them.
DUCK_WINDOWS = """
WITH cells AS (
  SELECT checkpoint_id, date_trunc('hour', closed_at) AS hour, count(*) AS completed,
         count(DISTINCT organization_id) AS exporters, list(dwell_minutes) AS waits
  FROM stops WHERE closed_at >= $start AND closed_at < $end GROUP BY ALL
), shown AS (SELECT * FROM cells WHERE completed >= $min_stops AND exporters >= $min_exporters)
SELECT checkpoint_id, sum(completed),
       quantile_cont(w, 0.5), quantile_cont(w, 0.9)
FROM shown, unnest(waits) AS t(w) GROUP BY checkpoint_id
"""
DUCK_ARRIVALS = """
SELECT checkpoint_id, date_trunc('hour', arrived_at), count(*) FROM stops
WHERE arrived_at >= $start AND arrived_at < $end GROUP BY ALL
"""
DUCK_FORECAST = """
WITH cells AS (
  SELECT checkpoint_id, date_trunc('hour', closed_at) AS hour, count(*) AS completed,
         count(DISTINCT organization_id) AS exporters, list(dwell_minutes) AS waits
  FROM stops WHERE closed_at >= $start AND closed_at < $end GROUP BY ALL
), shown AS (SELECT * FROM cells WHERE completed >= $min_stops AND exporters >= $min_exporters)
SELECT checkpoint_id,
       (isodow(hour + INTERVAL 3 HOUR) - 1) * 24 + hour(hour + INTERVAL 3 HOUR) AS how,
       quantile_cont(w, 0.5), quantile_cont(w, 0.9)
FROM shown, unnest(waits) AS t(w) GROUP BY ALL
"""


def run(db: str, stops: int, repeat: int, reuse: bool) -> dict[str, Any]:
    clock = feed.utcnow
    feed.utcnow = lambda: NOW  # type: ignore[assignment]  # the feed's clock, in the data
    try:
        return _run(db, stops, repeat, reuse)
    finally:
        feed.utcnow = clock  # type: ignore[assignment]


def _run(db: str, stops: int, repeat: int, reuse: bool) -> dict[str, Any]:
    url, _ = prepare(db, stops, reuse)
    settings = settings_for(url)
    app = create_app(settings.model_copy(update={"public_rate_limit": "1000000/minute"}))
    thresholds = privacy.public_thresholds_of(settings)
    end = feed.floor_hour(NOW)
    start = end - feed.LAST_HOURS * feed.HOUR
    week = feed.week_start(NOW)
    params = {
        "min_stops": thresholds.min_stops,
        "min_exporters": thresholds.min_exporters,
    }
    result: dict[str, Any] = {"db": db, "stops": stops, "now": NOW.isoformat()}
    loads = [load_average()]
    with TestClient(app) as client:
        etag = client.get(FEED).headers["etag"]
        result["served"] = timed(lambda: client.get(FEED), repeat)
        result["revalidated"] = timed(
            lambda: client.get(FEED, headers={"If-None-Match": etag}), repeat
        )
        result["health"] = timed(lambda: client.get("/healthz"), repeat)
        body = client.get(FEED).json()
    with app.state.reports_session_factory() as session:
        forecast = feed.forecast(session, week, thresholds)
        result["windows"] = timed(
            lambda: feed.build_feed(
                session, settings, now=NOW, hours_ahead=12, forecast_figures=forecast
            ),
            repeat,
        )
        result["forecast"] = timed(lambda: feed.forecast(session, week, thresholds), repeat)
        cells = feed.ended_cells(session, start, end)
        con = stops_into_duckdb(session)
    window_params = {**params, "start": start, "end": end}
    result["duckdb_windows"] = timed(
        lambda: (
            con.execute(DUCK_WINDOWS, window_params).fetchall(),
            con.execute(DUCK_ARRIVALS, {"start": start, "end": end}).fetchall(),
        ),
        repeat,
    )
    forecast_params = {**params, "start": week - feed.FORECAST_WEEKS * feed.WEEK, "end": week}
    result["duckdb_forecast"] = timed(
        lambda: con.execute(DUCK_FORECAST, forecast_params).fetchall(), repeat
    )
    # The same figures, checked: DuckDB's six-hour p90 per checkpoint against the feed's.
    duck = {r[0]: r for r in con.execute(DUCK_WINDOWS, window_params).fetchall()}
    ours = {
        str(cp.id): row["last_6_hours"]
        for cp, row in zip(_checkpoints(app), body["items"], strict=True)
    }
    result["same_figures"] = all(
        abs(duck[c][3] - ours[c]["p90_wait_minutes"]) < 1e-9
        if c in duck
        else ours[c].get("insufficient_data") is True
        for c in ours
    )
    theirs = {
        (r[0], r[1]): (r[2], r[3]) for r in con.execute(DUCK_FORECAST, forecast_params).fetchall()
    }
    mine = {(str(k[0]), k[1]): v for k, v in forecast.items()}
    result["same_forecast"] = mine.keys() == theirs.keys() and all(
        _close(mine[k], theirs[k]) for k in mine
    )
    result["stops_in_6_hours"] = sum(c.completed for c in cells.values())
    result["published_checkpoints"] = sum(
        "insufficient_data" not in row["last_6_hours"] for row in body["items"]
    )
    result["checkpoints"] = len(body["items"])
    result["feed_bytes"] = len(json.dumps(body))
    loads.append(load_average())
    result["load"] = loads
    return result


def _close(a: tuple[float | None, ...], b: tuple[float, ...]) -> bool:
    return all(x is not None and abs(x - y) < 1e-9 for x, y in zip(a, b, strict=True))


def _checkpoints(app: Any) -> list[Any]:
    from app.checkpoints.models import Checkpoint

    with app.state.reports_session_factory() as session:
        return list(
            session.scalars(select(Checkpoint).where(Checkpoint.active).order_by(Checkpoint.code))
        )


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stops", type=int, default=1_000_000)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args(argv)
    print(
        f"# {platform.platform()}, python {platform.python_version()}, duckdb {duckdb.__version__}"
    )
    results = []
    for db in args.db:
        result = run(db, args.stops, args.repeat, args.reuse)
        results.append(result)
        print(json.dumps(result, indent=1, default=str), flush=True)
    return results


if __name__ == "__main__":
    main()
