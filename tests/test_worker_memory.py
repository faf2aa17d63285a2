"""A worker's memory at start-up: the libraries of rare questions are imported when first
asked (scipy.stats for a policy's effect, pyarrow for the Parquet download, WeasyPrint for a
bulletin's PDF), not by every worker at start — together ~110 MB of the 300 MB a worker may
use at 10M stops (issue 14)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# In a process of its own: what a started worker has imported, then the two questions asked.
SCRIPT = """
import json, sys
from app.config import Settings
from app.main import create_app
from app.policies.effects import compare
from app.public.open_data import daily_parquet
from app.bulletins.render import pdf
from PIL import ImageFile

create_app(Settings(database_url=sys.argv[1]))
at_start = [m for m in ("scipy.stats", "pyarrow", "weasyprint") if m in sys.modules]
effect = compare([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0])
parquet = daily_parquet([])
printed = pdf("<p>bulletin</p>")
print(json.dumps({
    "at_start": at_start,
    "p": effect.mann_whitney_p,
    "magic": parquet[:4].decode(),
    "pdf": printed[:5].decode(),
    "truncated_images": ImageFile.LOAD_TRUNCATED_IMAGES,
}))
"""


def test_a_started_worker_imports_the_rare_questions_libraries_only_when_asked(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'start.db'}"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, url], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["at_start"] == []
    # Asked, they work: the effect's test (exact: all four after above all four before) and
    # a Parquet file.
    assert found["p"] is not None
    assert 0 < found["p"] < 0.05
    assert found["magic"] == "PAR1"
    # and a PDF, after which Pillow still refuses truncated photos (app/imaging.py)
    assert found["pdf"] == "%PDF-"
    assert found["truncated_images"] is False
