"""The timeline's properties hold with positions too (tests/tracking/test_timeline.py's own
strategies, each event given a random fix, the time the server received it and its source,
the checkpoints random places): any order and any duplication give the identical timeline,
and extending a build event by event gives the build of all the events."""

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.tracking.geofence import Place
from app.tracking.timeline import Event, build, extend, order, start
from tests.positions.helpers import offset
from tests.tracking.test_timeline import (
    CHECKPOINTS,
    instant_boundaries,
    messy_events,
    resent,
    snapshot,
    trips,
)

any_events = st.one_of(trips().map(lambda t: t.events), messy_events())


@st.composite
def checkpoint_places(draw: st.DrawFn) -> dict:  # type: ignore[type-arg]
    """A, B and C somewhere within ~100 km of each other (near enough for two posts of one
    crossing, far enough for impossible speeds), or without a position."""
    places: dict = {}  # type: ignore[type-arg]
    for checkpoint in CHECKPOINTS:
        if draw(st.integers(0, 5)) == 0:
            places[checkpoint] = None
            continue
        point = offset((35.4, 44.4), draw(st.floats(0, 100_000)), draw(st.floats(0, 360)))
        places[checkpoint] = Place(point[0], point[1], draw(st.floats(50, 2_000)))
    return places


@st.composite
def located(draw: st.DrawFn, events: list[Event], monotonic: bool) -> list[Event]:
    """The events with random fixes (near a checkpoint or far), receipt times (late ones
    included: days) and sources. `monotonic`: received in the order they happened, as the
    writer's extensions are."""
    out: list[Event] = []
    received = None
    for event in order(events) if monotonic else events:
        fix = None
        if draw(st.booleans()):
            point = offset((35.4, 44.4), draw(st.floats(0, 120_000)), draw(st.floats(0, 360)))
            fix = (point[0], point[1], draw(st.one_of(st.none(), st.floats(0, 3_000))))
        delay = timedelta(minutes=draw(st.sampled_from([0, 1, 30, 61, 3_000, 4_000])))
        at = event.occurred_at + delay
        received = at if received is None or not monotonic else max(received, at)
        out.append(
            replace(
                event,
                lat=fix[0] if fix else None,
                lon=fix[1] if fix else None,
                accuracy_m=fix[2] if fix else None,
                received_at=received,
                source=draw(st.sampled_from(["driver", "exporter"])),
            )
        )
    return out


@settings(max_examples=200, deadline=None)
@given(events=any_events, places=checkpoint_places(), data=st.data())
def test_any_order_and_duplication_give_the_identical_timeline_with_positions(
    events: list[Event],
    places: dict,
    data: st.DataObject,  # type: ignore[type-arg]
) -> None:
    events = data.draw(located(events, monotonic=False))
    again = data.draw(resent(events), label="resent")
    expected, actual = build(events, places), build(again, places)
    assert actual == expected
    assert snapshot(actual) == snapshot(expected)
    assert [s.position_evidence for s in actual.stops] == [
        s.position_evidence for s in expected.stops
    ]


@settings(max_examples=200, deadline=None)
@given(events=any_events, places=checkpoint_places(), data=st.data())
def test_extending_event_by_event_gives_the_build_of_all_with_positions(
    events: list[Event],
    places: dict,
    data: st.DataObject,  # type: ignore[type-arg]
) -> None:
    ordered = order(data.draw(located(events, monotonic=True)))
    cuts = data.draw(st.lists(st.sampled_from(instant_boundaries(ordered)), unique=True))
    cuts = sorted({0, *cuts, len(ordered)})
    progress = start(ordered[: cuts[0]], places)
    for begin, end in zip(cuts, cuts[1:], strict=False):
        extended = extend(progress, ordered[begin:end], places)
        assert extended is not None
        following, touched = extended
        expected = build(ordered[:end], places)
        assert following.timeline == expected
        assert snapshot(following.timeline) == snapshot(expected)
        before = progress.timeline.stops
        for stop in following.timeline.stops:
            if stop.seq not in touched and stop.seq <= len(before):
                assert stop == before[stop.seq - 1]
        progress = following
