"""Does the public forecast say what happens? A backtest on the demo data.

    DATABASE_URL=sqlite:///./data/clearance.db .venv/bin/python -m bench.forecast_backtest

For each of the last --weeks whole weeks (Monday to Monday, Baghdad time) of the database's
data, the forecast is made as the feed makes it at that week's start (app/public/feed.py:
the eight whole weeks before, hour cells that pass the public thresholds, by hour of the
week), then every stop that ended in that week is set against its checkpoint's forecast for
its hour of the week. A p90 that forecasts well has about 0.9 of the next week's stops under
it, a p50 about 0.5. Stops at an hour with no forecast (too few stops or exporters in its
cells) are counted apart: that is the forecast's coverage.
"""

import argparse
import json
import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app import privacy  # noqa: E402
from app.config import get_settings  # noqa: E402
from app.db import create_db_engine, make_session_factory  # noqa: E402
from app.public import feed  # noqa: E402
from app.tracking.models import Stop  # noqa: E402


def weeks_back(session: Session, weeks: int) -> list[datetime]:
    """The starts of the last `weeks` whole weeks before the latest stop's week."""
    latest = session.scalar(select(func.max(Stop.closed_at)))
    assert latest is not None, "the database holds no completed stop: load the demo first"
    this_week = feed.week_start(latest)
    return [this_week - n * feed.WEEK for n in range(weeks, 0, -1)]


def ended_in(session: Session, start: datetime) -> Iterable[Any]:
    """(checkpoint, ended at, wait) of each timed stop that ended in the week from `start`."""
    return session.execute(
        select(Stop.checkpoint_id, Stop.closed_at, Stop.dwell_minutes).where(
            Stop.closed_at >= start,
            Stop.closed_at < start + feed.WEEK,
            Stop.dwell_minutes.is_not(None),
        )
    )


def backtest(session: Session, weeks: int, thresholds: privacy.Thresholds) -> dict[str, Any]:
    per_week = []
    for start in weeks_back(session, weeks):
        forecast = feed.forecast(session, start, thresholds)
        stops = covered = under_p50 = under_p90 = 0
        for checkpoint_id, closed_at, dwell in ended_in(session, start):
            stops += 1
            found = forecast.get((checkpoint_id, feed.hour_of_week(feed.floor_hour(closed_at))))
            if found is None or found[0] is None or found[1] is None:
                continue
            covered += 1
            under_p50 += dwell <= found[0]
            under_p90 += dwell <= found[1]
        per_week.append(
            {
                "week": start.isoformat(),
                "stops": stops,
                "covered": covered,
                "under_p50": under_p50,
                "under_p90": under_p90,
            }
        )
    counts = ("stops", "covered", "under_p50", "under_p90")
    totals = {k: sum(w[k] for w in per_week) for k in counts}
    covered = totals["covered"] or 1
    return {
        "weeks": per_week,
        **totals,
        "coverage": totals["covered"] / (totals["stops"] or 1),
        "share_under_p50": totals["under_p50"] / covered,
        "share_under_p90": totals["under_p90"] / covered,
        "min_stops": thresholds.min_stops,
        "min_exporters": thresholds.min_exporters,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument(
        "--min-stops", type=int, help="PUBLIC_MIN_STOPS for this run (default: the setting's)"
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.min_stops:
        settings = settings.model_copy(update={"public_min_stops": args.min_stops})
    engine = create_db_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            result = backtest(session, args.weeks, privacy.public_thresholds_of(settings))
    finally:
        engine.dispose()
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
