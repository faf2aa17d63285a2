"""PURE: where a fix lies against a checkpoint's fence, and what a tracker's fixes say of a stop.

A fix is a reported position with the radius of its uncertainty (`accuracy_m`, the phone's or
the tracker's own figure; none given counts as 0). The truck was somewhere in that circle, so:

- *inside* the fence when the circle touches it: distance − accuracy ≤ radius (a fix that
  could be at the checkpoint corroborates it);
- *outside* when the whole circle is beyond it: distance − accuracy > radius;
- *clearly elsewhere* when the whole circle is more than 5 km, or the fence's radius if that
  is larger, beyond the checkpoint's point: distance − accuracy > max(5,000 m, radius) (a
  queue a few kilometres long is not a contradiction, nor is a fix inside a large fence).

A tap's fix is one fix: inside confirms the stop (at its arrival or its release), clearly
elsewhere contradicts it. A tracker reports every few seconds, and some fixes jump hundreds of
metres while claiming metres of accuracy: one fix never makes an exit. An *exit* is two
consecutive fixes both outside; a tracker contradicts a stop only with an exit clearly
elsewhere during the stop. Straight-line distances are great-circle (haversine) distances.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

EARTH_RADIUS_M = 6_371_008.8
ELSEWHERE_M = 5_000.0
DEFAULT_RADIUS_M = 300.0
# How far before the arrival and after the release a tracker's fix still speaks for the stop.
TRACKER_MARGIN = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Place:
    """A checkpoint's point and fence."""

    lat: float
    lon: float
    radius_m: float = DEFAULT_RADIUS_M


@dataclass(frozen=True, slots=True)
class Fix:
    lat: float
    lon: float
    accuracy_m: float | None = None
    at: datetime | None = None


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def between(a: Place, b: Place) -> float:
    return distance_m(a.lat, a.lon, b.lat, b.lon)


def beyond_m(place: Place, fix: Fix) -> float:
    """How far the nearest point of the fix's circle is from the checkpoint's point."""
    return distance_m(place.lat, place.lon, fix.lat, fix.lon) - (fix.accuracy_m or 0.0)


def inside(place: Place, fix: Fix) -> bool:
    return beyond_m(place, fix) <= place.radius_m


def outside(place: Place, fix: Fix) -> bool:
    return beyond_m(place, fix) > place.radius_m


def elsewhere(place: Place, fix: Fix) -> bool:
    return beyond_m(place, fix) > max(ELSEWHERE_M, place.radius_m)


def exits(place: Place, fixes: Sequence[Fix]) -> list[tuple[Fix, Fix]]:
    """Each pair of consecutive fixes (in the order given: time order) that are both outside
    the fence. A single fix outside, between fixes inside, is never an exit."""
    pairs = zip(fixes, fixes[1:], strict=False)
    return [(a, b) for a, b in pairs if outside(place, a) and outside(place, b)]


@dataclass(frozen=True, slots=True)
class TrackerVerdict:
    confirmed: bool
    # The exit clearly elsewhere during the stop, if there was one.
    contradiction: tuple[Fix, Fix] | None


def tracker_verdict(
    place: Place, start: datetime, end: datetime, fixes: Sequence[Fix]
) -> TrackerVerdict:
    """What a tracker's fixes (in time order, each with `at`) say of a stop from `start`
    (its arrival) to `end` (its release; the last event logged there while it is open).

    Confirmed: a fix from TRACKER_MARGIN before the arrival to TRACKER_MARGIN after the
    release lies inside the fence. Contradicted: during the stop itself, two consecutive fixes
    lie clearly elsewhere (the exit of a truck that was not there)."""
    confirmed = any(
        fix.at is not None
        and start - TRACKER_MARGIN <= fix.at <= end + TRACKER_MARGIN
        and inside(place, fix)
        for fix in fixes
    )
    contradiction = next(
        (
            (a, b)
            for a, b in exits(place, fixes)
            if a.at is not None
            and b.at is not None
            and start <= a.at
            and b.at <= end
            and elsewhere(place, a)
            and elsewhere(place, b)
        ),
        None,
    )
    return TrackerVerdict(confirmed, contradiction)
