"""The advocates' dashboard fully drawn in Chromium, over the report benchmark's databases.

    .venv/bin/python bench/dashboard.py --stops 1000000 10000000 --db sqlite postgres

For each (database, size): the database bench/reports.py loads (loaded here if missing),
one uvicorn worker serving it in a process of its own (rollup refresh thread off: nothing
writes), its benchmark admin signed in, and headless Chromium (Debian's, driven by
Playwright as tests/browser.py does) opening /dashboard. A run is one navigation of a fresh
tab that already holds the token: the page asks for the checkpoints, then its six reports
at once, draws every panel and sets <body data-loaded="true"> (app/web/static/dashboard.js).
The time of a run is from the navigation's start (performance.timeOrigin) to the first
animation frame after that flag — every panel drawn — measured in the page. One warm-up
run, then the median of --runs. Also recorded: each report request's time as the browser
saw it (Resource Timing), and the worker's peak RSS (VmHWM) after the runs.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from playwright.sync_api import Browser, sync_playwright  # noqa: E402

from app.auth.passwords import Passwords  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import create_db_engine, make_session_factory  # noqa: E402
from bench import reports  # noqa: E402
from bench.ingest import serve, serve_workers  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PASSWORD = "bench-dashboard-password"
TOKEN_KEY = "clearance.dashboard.token"  # as dashboard.js keeps it
# In the page, before its own scripts: note when <body data-loaded="true"> is set, and the
# first animation frame after it (the panels painted).
WATCH = """
window.__drawn = null;
new MutationObserver((changes, observer) => {
  if (document.body && document.body.dataset.loaded === "true") {
    const set = performance.now();
    observer.disconnect();
    requestAnimationFrame(() => { window.__drawn = { set, painted: performance.now() }; });
  }
}).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-loaded"] });
"""


# The worker's memory settings and report slots, measured at other values by setting them
# for the benchmark (default: as the service runs).
TUNABLE = ("REPORT_CONCURRENCY", "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_")


def app_env(url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "SECRET_KEY": "bench-" + "x" * 40,
        "ROLLUP_REFRESH_SECONDS": "0",  # nothing writes
        "LOG_LEVEL": "WARNING",
        "MALLOC_ARENA_MAX": "1",  # as the Dockerfile and scripts/run serve
        **{name: os.environ[name] for name in TUNABLE if name in os.environ},
    }


def sign_in_admin(url: str) -> None:
    """The benchmark's admin, with a password (bench/reports.py makes it without one)."""
    settings = Settings(_env_file=None, database_url=url, environment="test")  # type: ignore[call-arg]
    engine = create_db_engine(settings)
    with make_session_factory(engine)() as session:
        reports.bench_admin(session, Passwords(settings).hash(PASSWORD))
    engine.dispose()


def token(base: str) -> str:
    answer = httpx.post(
        f"{base}/api/v1/auth/token",
        data={"username": reports.BENCH_ADMIN, "password": PASSWORD},
        timeout=60,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def one_draw(browser: Browser, base: str, access: str, timeout_s: float) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    context.add_init_script(
        f"sessionStorage.setItem({json.dumps(TOKEN_KEY)}, {json.dumps(access)});"
    )
    context.add_init_script(WATCH)
    page = context.new_page()
    try:
        page.goto(f"{base}/dashboard?lang=en", wait_until="commit")
        page.wait_for_function("() => window.__drawn !== null", timeout=timeout_s * 1000)
        drawn = page.evaluate("window.__drawn")
        assert page.evaluate("document.getElementById('error').hidden"), "the page shows an error"
        rows = page.evaluate("document.querySelectorAll('#ranking-table tbody tr').length")
        requests = page.evaluate(
            """performance.getEntriesByType('resource')
                 .filter((e) => e.name.includes('/api/v1/'))
                 .map((e) => [new URL(e.name).pathname, e.startTime, e.responseEnd])"""
        )
    finally:
        context.close()
    return {
        "drawn_ms": drawn["painted"],
        "loaded_flag_ms": drawn["set"],
        "ranking_rows": rows,
        "requests": {path: end - start for path, start, end in requests},
    }


def workers_peak_rss_mb(server: Any) -> float:
    """The largest peak RSS among `clearance serve`'s worker processes (its children)."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    peaks = []
    for child in children:
        status = Path(f"/proc/{child}/status").read_text()
        peaks += [int(line.split()[1]) / 1024 for line in status.splitlines() if "VmHWM" in line]
    return max(peaks, default=0.0)


def run_one(db: str, stops: int, runs: int, timeout_s: float, workers: int = 1) -> dict[str, Any]:
    url, loaded = reports.prepare(db, stops, reuse=True)
    sign_in_admin(url)
    load_before = reports.load_average()
    # One worker: uvicorn alone; more: `clearance serve --workers N`, as production runs it.
    serving = (
        serve("app.main:create_app", app_env(url), factory=True)
        if workers == 1
        else serve_workers(app_env(url), workers)
    )
    with serving as server:
        access = token(server.url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                warm_up = one_draw(browser, server.url, access, timeout_s)
                draws = [one_draw(browser, server.url, access, timeout_s) for _ in range(runs)]
            finally:
                browser.close()
        peak = server.peak_rss_mb() if workers == 1 else workers_peak_rss_mb(server)
    drawn = [d["drawn_ms"] for d in draws]
    median_requests = {
        path: statistics.median(d["requests"].get(path, 0.0) for d in draws)
        for path in draws[0]["requests"]
    }
    result = {
        "db": db,
        "stops": stops,
        "workers": workers,
        "started_utc": time.strftime("%H:%M:%S", time.gmtime()),
        "load_average": [load_before, reports.load_average()],
        "loaded_now": loaded is not None,
        "warm_up_ms": warm_up["drawn_ms"],
        "drawn_ms": drawn,
        "median_ms": statistics.median(drawn),
        "ranking_rows": draws[-1]["ranking_rows"],
        "median_request_ms": median_requests,
        "worker_peak_rss_mb": peak,
    }
    print(
        f"\n{db}, {stops:,} stops, {workers} worker(s): dashboard drawn in "
        f"{result['median_ms']:.0f} ms "
        f"(median of {runs}; runs {', '.join(f'{d:.0f}' for d in drawn)}; warm-up "
        f"{warm_up['drawn_ms']:.0f}); worker peak RSS {peak:.0f} MB; load average "
        f"{' → '.join(result['load_average'])}"
    )
    for path, ms in sorted(median_requests.items(), key=lambda item: -item[1]):
        print(f"  {path:<40} {ms:9.0f} ms")
    return result


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stops", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--db", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"]
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1], help="worker processes, each in turn"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds a draw may take")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    results = []
    for db in args.db:
        for stops in args.stops:
            for workers in args.workers:
                results.append(run_one(db, stops, args.runs, args.timeout, workers))
            if args.json:
                args.json.write_text(json.dumps(results, indent=2))
    print("\nmachine:", json.dumps(reports.machine()), "cores:", os.cpu_count())
    return results


if __name__ == "__main__":
    main()
