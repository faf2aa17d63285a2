"""What advocates' protected cells cost: each report's CPU time for an admin (exact, as before)
and for an advocate (built from checkpoint × day cells), in the same run, on one database.

    DATABASE_URL=sqlite:////tmp/demo/demo.db .venv/bin/clearance seed-demo   # 30,000 trips
    .venv/bin/python bench/advocate_cells.py sqlite:////tmp/demo/demo.db

Needs the demo's advocate (advocate@demo.example) and the admin the demo's README creates.
"""

import sys
import time

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app

URL = sys.argv[1] if len(sys.argv) > 1 else "sqlite:////tmp/demo/demo.db"
REPORTS = [
    "checkpoints",
    "agencies",
    "commodities",
    "procedures",
    "trends",
    "trends?by=checkpoint",
    "corridors",
    "checkpoints?hs_chapter=25",
]


def main() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=URL,
        log_level="WARNING",
        bootstrap_admin_email="admin@example.org",
        bootstrap_admin_password="change-me-now-please",
    )
    with TestClient(create_app(settings)) as client:

        def bearer(user: str, password: str) -> dict[str, str]:
            token = client.post(
                "/api/v1/auth/token", data={"username": user, "password": password}
            ).json()["access_token"]
            return {"Authorization": f"Bearer {token}"}

        who = {
            "admin": bearer("admin@example.org", "change-me-now-please"),
            "advocate": bearer("advocate@demo.example", "demo-password"),
        }
        print("| report | admin CPU ms | advocate CPU ms | ratio |\n|---|---:|---:|---:|")
        for name in REPORTS:
            cpu = {}
            for role, headers in who.items():
                client.get(f"/api/v1/reports/{name}", headers=headers)  # warm
                start = time.process_time()
                response = client.get(f"/api/v1/reports/{name}", headers=headers)
                cpu[role] = 1000 * (time.process_time() - start)
                assert response.status_code == 200, response.text
            ratio = cpu["advocate"] / cpu["admin"]
            print(f"| {name} | {cpu['admin']:.0f} | {cpu['advocate']:.0f} | {ratio:.1f} |")


if __name__ == "__main__":
    main()
