"""What the open data costs: `/public/daily` over 30 and 366 days in each format, over HTTP
through the app (no credentials), the best of three, wall and CPU time of this process.

    DATABASE_URL=sqlite:////tmp/demo/demo.db .venv/bin/clearance seed-demo   # 30,000 trips
    .venv/bin/python bench/open_data.py sqlite:////tmp/demo/demo.db
"""

import sys
import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app

URL = sys.argv[1] if len(sys.argv) > 1 else "sqlite:////tmp/demo/demo.db"
RUNS = 3


def main() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=URL,
        log_level="WARNING",
        bootstrap_admin_email=None,
        public_rate_limit="1000/minute",
        rollup_refresh_seconds=0,
    )
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    print("| days | format | rows | published | bytes | wall ms | CPU ms |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    with TestClient(create_app(settings)) as client:
        for days in (30, 366):
            window = {"from": str(yesterday - timedelta(days=days - 1)), "to": str(yesterday)}
            rows = client.get("/api/v1/public/daily", params=window).json()["items"]
            published = sum(not row["insufficient_data"] for row in rows)
            for fmt in ("json", "csv", "parquet"):
                wall, cpu = [], []
                for _ in range(RUNS):
                    start, start_cpu = time.perf_counter(), time.process_time()
                    response = client.get("/api/v1/public/daily", params={**window, "format": fmt})
                    wall.append(time.perf_counter() - start)
                    cpu.append(time.process_time() - start_cpu)
                    assert response.status_code == 200, response.text
                print(
                    f"| {days} | {fmt} | {len(rows):,} | {published:,} | "
                    f"{len(response.content):,} | {1000 * min(wall):.0f} | {1000 * min(cpu):.0f} |"
                )


if __name__ == "__main__":
    main()
