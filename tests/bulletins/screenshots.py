"""Make the README's picture of the monthly bulletin: page 1 of last month's PDF, as PNG.

    .venv/bin/python -m tests.bulletins.screenshots        # writes docs/bulletin-{en,ar}.png

A throwaway SQLite database with the demo world (as `./scripts/run --demo` makes it) and a
few cases opened and moved last month; pdftoppm (poppler-utils) turns the PDFs into PNGs.
"""

import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.bulletins.service import Month
from app.demo import generator
from app.main import create_app
from tests.bulletins.world import clock
from tests.conftest import make_settings, migrate
from tests.factories import API, login

DOCS = Path(__file__).resolve().parents[2] / "docs"
CASES = [  # title, category, steps (day of the month, status)
    (
        "Fees without receipts at the Kirkuk entrances",
        "unreceipted_fee",
        [(3, "submitted"), (5, "acknowledged"), (12, "in_progress"), (26, "resolved")],
    ),
    ("Cement trucks held for a quality certificate", "missing_document_hold", [(9, "submitted")]),
    ("Queues of 6 hours at the Baghdad customs yard", "queue_or_closure", [(17, "submitted")]),
]


def open_cases(client: TestClient, month: Month) -> None:
    advocate = login(client, "advocate@demo.example", generator.DEMO_PASSWORD)
    patch = pytest.MonkeyPatch()
    try:
        for title, category, steps in CASES:
            with clock(patch, month.start + timedelta(days=steps[0][0] - 1, hours=8)):
                body = {"title": title, "category": category, "summary": ""}
                case = client.post(f"{API}/cases", json=body, headers=advocate).json()
            for day, to in steps:
                with clock(patch, month.start + timedelta(days=day - 1, hours=9)):
                    moved = client.post(
                        f"{API}/cases/{case['id']}/transitions",
                        json={"to": to, "note": ""},
                        headers=advocate,
                    )
                    assert moved.status_code == 200, moved.text
    finally:
        patch.undo()


def main() -> None:
    month = Month.of(datetime.now(UTC)).previous
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        migrate(url)
        app = create_app(make_settings(url, attachments_dir=Path(tmp) / "attachments"))
        with TestClient(app) as client:
            with app.state.session_factory() as session:
                generator.seed(session, passwords=app.state.passwords, shipments=30_000, seed=1)
            open_cases(client, month)
            advocate = login(client, "advocate@demo.example", generator.DEMO_PASSWORD)
            for lang in ("en", "ar"):
                response = client.get(
                    f"{API}/bulletins/{month}", params={"lang": lang}, headers=advocate
                )
                assert response.status_code == 200, response.text
                pdf = Path(tmp) / f"bulletin-{lang}.pdf"
                pdf.write_bytes(response.content)
                target = DOCS / f"bulletin-{lang}"
                subprocess.run(
                    ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile"]
                    + [str(pdf), str(target)],
                    check=True,
                )
                print(f"wrote {target}.png")
        app.state.engine.dispose()


if __name__ == "__main__":
    main()
