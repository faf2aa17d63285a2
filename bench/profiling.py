"""py-spy over a benchmark's process while it runs, as collapsed stacks (`--format raw`)."""

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def py_spy(pid: int, out: Path, *options: str, rate: int) -> Iterator[None]:
    """Samples `pid` at `rate` Hz into `out` until the block ends (py-spy beside Python)."""
    spy = subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid)]
        + ["--format", "raw", "--rate", str(rate), "--output", str(out), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)  # py-spy attaches
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
        print(f"  profile: {out}")
