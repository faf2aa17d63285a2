"""PURE: when a truck on the road will arrive — the sum of the dwell at the checkpoints ahead
and the driving time of the distance left, as p50 and p90.

No database, no clock, no I/O: `now` and every measured distribution are arguments (the
database side is eta_inputs.py). Same inputs, same answer.

The dwell at each checkpoint ahead is a random variable, known by its measured samples; the
trip's remaining time is their sum plus the driving time. Percentiles do not add (the sum of
the checkpoints' p90s is far later than the p90 of the sum, since they are rarely all slow at
once), so the distribution of the sum is computed: each checkpoint's samples are reduced to
ATOMS equally likely values (its quantiles at (i + ½)/ATOMS, the extreme ½/ATOMS tails
dropped), rounded to whole minutes, and the probability vectors on that minute grid are
convolved exactly (assuming the checkpoints independent of each other). The driving time is
one more term: km / speed for each measured trip's speed, as uncertain as those speeds. The
p50 and p90 are then read off the sum's distribution function: the first minute where it
reaches 0.5 and 0.9.

Monotone by construction: every dwell is ≥ 0, so adding a checkpoint convolves with a
distribution on [0, ∞), which never moves mass earlier; more km make every driving time
longer, and the atoms keep the order of the speeds, so no quantile of the road moves
earlier. The property tests (tests/tracking/test_eta.py) hold it to that.

For the checkpoint the truck is at now, what is left is the dwell *given that it has already
lasted* `elapsed` minutes: the samples longer than that, less `elapsed`. When fewer than
TAIL_SAMPLES samples are that long (the truck is held longer than nearly every truck
measured there), the residual of the longest TAIL_SAMPLES is used instead: the truck is
assumed to be one of the long ones, not about to leave.
"""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

ATOMS = 200
TAIL_SAMPLES = 5
QUANTILES = (0.5, 0.9)
# A distribution function's value is a float sum: "reaches q" allows for its rounding.
_ROUNDING = 1e-9


@dataclass(frozen=True, slots=True)
class Ahead:
    """A checkpoint still ahead: its measured dwell minutes (any order) and, for the one the
    truck is at now, how long it has been there."""

    samples: Sequence[float]
    elapsed_minutes: float | None = None


@dataclass(frozen=True, slots=True)
class Estimate:
    p50: datetime
    p90: datetime
    p50_minutes: float  # from now
    p90_minutes: float
    driving_minutes: float  # the median of the road's


def remaining_dwell(samples: Sequence[float], elapsed_minutes: float | None) -> list[float]:
    """The dwell still to come: all of it ahead, or, at the checkpoint the truck is at, the
    samples longer than `elapsed_minutes` less that (see the module's docstring for a truck
    held longer than nearly all)."""
    ordered = sorted(max(0.0, s) for s in samples if math.isfinite(s))
    if elapsed_minutes is None or not ordered:
        return ordered
    longer = [s - elapsed_minutes for s in ordered if s > elapsed_minutes]
    if len(longer) >= min(TAIL_SAMPLES, len(ordered)):
        return longer
    tail = ordered[-TAIL_SAMPLES:]
    return [s - tail[0] for s in tail]


def atoms(samples: Sequence[float]) -> npt.NDArray[np.int64]:
    """ATOMS equally likely whole minutes standing for the samples (all of them when fewer):
    their quantiles at (i + ½)/ATOMS, rounded to the minute."""
    ordered = np.sort(np.asarray(samples, dtype=float))
    if len(ordered) > ATOMS:
        ordered = ordered[np.floor((np.arange(ATOMS) + 0.5) / ATOMS * len(ordered)).astype(int)]
    minutes: npt.NDArray[np.int64] = np.rint(ordered).astype(np.int64)
    return minutes


def dwell_distribution(ahead: Sequence[Ahead]) -> npt.NDArray[np.float64]:
    """P(total dwell = m minutes), m = 0, 1, …: the convolution of the checkpoints'."""
    total = np.ones(1)
    for checkpoint in ahead:
        minutes = atoms(remaining_dwell(checkpoint.samples, checkpoint.elapsed_minutes))
        if len(minutes) == 0:
            continue  # nothing measured: counted as no wait (eta_inputs never sends this)
        total = _add(total, minutes)
    return total


def _add(pmf: npt.NDArray[np.float64], minutes: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """The distribution of X + Y, X's given by `pmf` and Y equally likely to be each of
    `minutes`: a sum of shifted copies of `pmf`, one per distinct value (at most ATOMS), which
    is what np.convolve computes but without multiplying the minutes in between by zero."""
    values, counts = np.unique(minutes, return_counts=True)
    out = np.zeros(len(pmf) + int(values[-1]))
    for value, count in zip(values.tolist(), (counts / len(minutes)).tolist(), strict=True):
        out[value : value + len(pmf)] += count * pmf
    return out


def quantile_minutes(pmf: npt.NDArray[np.float64], q: float) -> int:
    """The first whole minute m with P(total ≤ m) ≥ q."""
    cdf = np.cumsum(pmf)
    return int(np.searchsorted(cdf, q - _ROUNDING, side="left"))


def driving_minutes(remaining_km: float, speed_kmh: float) -> float:
    if remaining_km <= 0:
        return 0.0
    return remaining_km / speed_kmh * 60


def estimate(
    now: datetime, ahead: Sequence[Ahead], remaining_km: float, speeds_kmh: Sequence[float]
) -> Estimate:
    """p50 and p90 of the arrival: now + the dwell ahead + the driving time, convolved. The
    driving time is as uncertain as the measured trips' speeds (`speeds_kmh`, one per trip,
    or a single assumed speed): the road is one more term of the sum."""
    if not speeds_kmh or not all(s > 0 and math.isfinite(s) for s in speeds_kmh):
        raise ValueError("speeds_kmh must be positive numbers, at least one")
    road = sorted(driving_minutes(remaining_km, s) for s in speeds_kmh)
    pmf = dwell_distribution([*ahead, Ahead(road)])
    p50, p90 = (quantile_minutes(pmf, q) for q in QUANTILES)
    return Estimate(
        p50=now + timedelta(minutes=p50),
        p90=now + timedelta(minutes=p90),
        p50_minutes=p50,
        p90_minutes=p90,
        driving_minutes=statistics.median(road),
    )
