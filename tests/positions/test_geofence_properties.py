"""Properties of the geofence (pure: app/tracking/geofence.py and the timeline's tap fixes),
over random places, fences, accuracies and fix sequences whose error stays inside the
accuracy each fix reports:

- a truck that never left the fence never gets an exit, is confirmed, never contradicted;
- a truck that left for two fixes or more gets an exit; clearly elsewhere (its circle more
  than 5 km beyond the checkpoint) the stop is contradicted, nearer it is not;
- one fix far away, between fixes inside, is never an exit (Traccar's "200 m jump");
- a tap's fix decides its stop the same way: confirmed inside, contradicted clearly elsewhere.
"""

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.tracking import geofence, timeline
from app.tracking.geofence import ELSEWHERE_M, Fix, Place
from app.tracking.vocabulary import EventType
from tests.positions.helpers import offset

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)

places = st.builds(
    Place,
    lat=st.floats(-60, 60),
    lon=st.floats(-179, 179),
    radius_m=st.floats(50, 3_000),
)
accuracies = st.floats(0, 800)
bearings = st.floats(0, 360)
fractions = st.floats(0, 0.999)


@st.composite
def fix_at(draw: st.DrawFn, place: Place, low_m: float, high_m: float, minute: int) -> Fix:
    """A fix of a truck truly between low_m and high_m from the checkpoint, reported with a
    random accuracy and an error (jitter) somewhere inside it."""
    accuracy = draw(accuracies)
    true = offset((place.lat, place.lon), draw(st.floats(low_m, high_m)), draw(bearings))
    seen = offset(true, accuracy * draw(fractions), draw(bearings))
    return Fix(seen[0], seen[1], accuracy, T0 + timedelta(minutes=minute))


@st.composite
def stayed(draw: st.DrawFn) -> tuple[Place, list[Fix]]:
    place = draw(places)
    n = draw(st.integers(1, 30))
    inside = place.radius_m * 0.999
    return place, [draw(fix_at(place, 0, inside, i)) for i in range(n)]


@st.composite
def left(draw: st.DrawFn, far: bool) -> tuple[Place, list[Fix], int, int]:
    """Inside, then away for two fixes or more, then maybe back. Away: clearly elsewhere
    (`far`), or outside the fence but within 5 km (`far` false). Returns where the away fixes
    start and end."""
    place = draw(places)
    before = draw(st.integers(1, 8))
    away = draw(st.integers(2, 8))
    after = draw(st.integers(0, 8))
    fixes = [draw(fix_at(place, 0, place.radius_m * 0.999, i)) for i in range(before)]
    for i in range(before, before + away):
        accuracy = draw(st.floats(0, 800))
        # Truly far enough that even the nearest point of the circle around a jittered
        # report lies beyond the fence (or beyond 5 km): two accuracies of margin.
        if far:
            low, high = ELSEWHERE_M + 2 * accuracy + 10, 300_000.0
        else:
            low = place.radius_m + 2 * accuracy + 10
            high = ELSEWHERE_M - 10
            if low >= high:
                accuracy, low = 0.0, place.radius_m + 10
        true = offset((place.lat, place.lon), draw(st.floats(low, high)), draw(bearings))
        seen = offset(true, accuracy * draw(fractions), draw(bearings))
        fixes.append(Fix(seen[0], seen[1], accuracy, T0 + timedelta(minutes=i)))
    start = before + away
    fixes += [
        draw(fix_at(place, 0, place.radius_m * 0.999, i)) for i in range(start, start + after)
    ]
    return place, fixes, before, before + away


def window(fixes: list[Fix]) -> tuple[datetime, datetime]:
    return T0, T0 + timedelta(minutes=len(fixes))


@settings(max_examples=300, deadline=None)
@given(stayed())
def test_a_truck_that_never_left_the_fence_never_gets_an_exit(
    case: tuple[Place, list[Fix]],
) -> None:
    place, fixes = case
    assert geofence.exits(place, fixes) == []
    assert all(geofence.inside(place, fix) for fix in fixes)
    verdict = geofence.tracker_verdict(place, *window(fixes), fixes)
    assert verdict.confirmed
    assert verdict.contradiction is None


@settings(max_examples=300, deadline=None)
@given(left(far=True))
def test_a_truck_clearly_elsewhere_exits_and_contradicts_the_stop(
    case: tuple[Place, list[Fix], int, int],
) -> None:
    place, fixes, first_away, end_away = case
    found = geofence.exits(place, fixes)
    assert found
    assert all(pair[0] in fixes[first_away:end_away] for pair in found)
    verdict = geofence.tracker_verdict(place, *window(fixes), fixes)
    assert verdict.confirmed  # it was there at the start
    assert verdict.contradiction is not None
    assert verdict.contradiction[0] in fixes[first_away:end_away]


@settings(max_examples=300, deadline=None)
@given(left(far=False))
def test_a_truck_that_left_but_stayed_near_exits_without_contradicting(
    case: tuple[Place, list[Fix], int, int],
) -> None:
    place, fixes, first_away, end_away = case
    assert geofence.exits(place, fixes)
    verdict = geofence.tracker_verdict(place, *window(fixes), fixes)
    assert verdict.confirmed
    assert verdict.contradiction is None


@settings(max_examples=300, deadline=None)
@given(stayed(), st.data())
def test_one_jump_far_away_is_never_an_exit(
    case: tuple[Place, list[Fix]], data: st.DataObject
) -> None:
    place, fixes = case
    at = data.draw(st.integers(0, len(fixes)))
    # A report 200 m to 100 km off that claims 0–10 m of accuracy.
    distance = data.draw(st.floats(place.radius_m + 200, 100_000))
    far = offset((place.lat, place.lon), distance, data.draw(bearings))
    jump = Fix(far[0], far[1], data.draw(st.floats(0, 10)), T0 + timedelta(minutes=at))
    jumped = [*fixes[:at], jump, *fixes[at:]]
    assert geofence.exits(place, jumped) == []
    assert geofence.tracker_verdict(place, *window(jumped), jumped).contradiction is None


def _visit(place: Place, arrival: Fix | None, fee: Fix | None) -> timeline.Stop:
    checkpoint = uuid.uuid4()

    def event(kind: EventType, minute: int, fix: Fix | None, **more: object) -> timeline.Event:
        return timeline.Event(
            uuid.uuid4(),
            kind,
            T0 + timedelta(minutes=minute),
            checkpoint if kind == EventType.arrived else None,
            lat=fix.lat if fix else None,
            lon=fix.lon if fix else None,
            accuracy_m=fix.accuracy_m if fix else None,
            **more,  # type: ignore[arg-type]
        )

    events = [event(EventType.arrived, 0, arrival), event(EventType.released, 30, None)]
    if fee is not None:
        events.append(event(EventType.held, 10, fee, hold_reason="security"))
    [stop] = timeline.build(events, {checkpoint: place}).stops
    return stop


@settings(max_examples=300, deadline=None)
@given(places, st.data())
def test_a_taps_fix_inside_the_fence_confirms_its_stop(place: Place, data: st.DataObject) -> None:
    arrival = data.draw(fix_at(place, 0, place.radius_m * 0.999, 0))
    stop = _visit(place, arrival, None)
    assert stop.position_evidence == "confirmed"
    assert stop.anomalies == []


@settings(max_examples=300, deadline=None)
@given(places, st.data())
def test_a_taps_fix_clearly_elsewhere_contradicts_its_stop(
    place: Place, data: st.DataObject
) -> None:
    arrival = data.draw(fix_at(place, 0, place.radius_m * 0.999, 0))
    accuracy = data.draw(st.floats(0, 800))
    true = offset(
        (place.lat, place.lon),
        data.draw(st.floats(ELSEWHERE_M + 2 * accuracy + 10, 300_000)),
        data.draw(bearings),
    )
    seen = offset(true, accuracy * data.draw(fractions), data.draw(bearings))
    stop = _visit(place, arrival, Fix(seen[0], seen[1], accuracy))
    assert stop.position_evidence == "contradicted"
    assert [a.code for a in stop.anomalies] == ["position_contradicts_checkpoint"]
