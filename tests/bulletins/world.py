"""The bulletins' test world, built through the API: October and November 2026.

Four exporters, three checkpoints with names in English, Arabic and Sorani. A (Kirkuk) and
B (Baghdad) see twelve trucks a day from the four exporters on two days of each month, so
their day cells pass the advocates' thresholds; A waits longer in November, B less. On
5 November two trucks of two exporters pass A and C (Diyala): those cells are thin, so C's
November row is suppressed and A's thin day is left out of its row. The thin trucks' waits
are unusual numbers (977, 1013, 1187, 1231 minutes) that no published figure can equal.

Cases are opened and moved through the API on a clock set to October and November.
"""

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import (
    API,
    Actor,
    admin,
    make_checkpoint,
    make_exporter,
    make_org,
    make_shipment,
    make_user,
)

BUSY_DAYS = (
    datetime(2026, 10, 6),
    datetime(2026, 10, 7),
    datetime(2026, 11, 3),
    datetime(2026, 11, 4),
)
THIN_DAY = datetime(2026, 11, 5)
TRIPS_PER_DAY = 12
EXPORTERS = 4
# The two thin trucks' waits at A and at C, in minutes.
THIN_DWELL = {"A": (977, 1187), "C": (1013, 1231)}
XSS_TITLE = "<script>alert(1)</script>"
NAMES = {
    "A": {
        "code": "KRK-S",
        "name": "Kirkuk south entrance",
        "name_ar": "مدخل كركوك الجنوبي",
        "name_ckb": "دەروازەی باشووری کەرکووک",
        "province": "kirkuk",
        "authority": "army",
    },
    "B": {
        "code": "BGD-C",
        "name": "Baghdad customs yard",
        "name_ar": "ساحة كمرك بغداد",
        "name_ckb": "گۆڕەپانی گومرگی بەغدا",
        "province": "baghdad",
        "authority": "customs",
        "kind": "customs",
    },
    "C": {
        "code": "DYL-B",
        "name": "Diyala bridge",
        "name_ar": "جسر ديالى",
        "name_ckb": "پردی دیالە",
        "province": "diyala",
        "authority": "police",
    },
}


@dataclass
class World:
    client: TestClient
    admin: Actor
    advocate: Actor
    exporter: Actor
    checkpoints: dict[str, str]  # A, B, C -> id
    cases: dict[str, dict[str, Any]]  # xss, resolved, late, draft -> the case as opened


def _dwell(code: str, day: datetime, index: int) -> int:
    """Busy days' waits in whole minutes: A slower in November, B faster."""
    november = day.month == 11
    if code == "A":
        return (95 + 7 * index) if november else (40 + 5 * index)
    return (70 + 3 * index) if november else (100 + 4 * index)


def _send_trip(
    world: World,
    rng: random.Random,
    route: list[tuple[str, int]],
    exporter: Actor,
    departure: datetime,
    held: set[str],
) -> None:
    shipment = make_shipment(
        world.client,
        exporter,
        planned_departure=departure.isoformat(),
        route=[world.checkpoints[code] for code, _ in route],
    )
    events: list[dict[str, Any]] = []

    def emit(type_: str, moment: datetime, **fields: Any) -> None:
        event_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        events.append(
            {"event_id": str(event_id), "type": type_, "occurred_at": moment.isoformat(), **fields}
        )

    t = departure
    emit("departed", t)
    for code, dwell in route:
        t += timedelta(minutes=45)
        emit("arrived", t, checkpoint_id=world.checkpoints[code])
        if code in held:
            emit("held", t + timedelta(minutes=2), hold_reason="missing_document")
        t += timedelta(minutes=dwell)
        emit("released", t)
    emit("delivered", t + timedelta(minutes=30))
    response = world.client.post(
        f"{API}/sync",
        json={"shipment_id": shipment["id"], "events": events},
        headers=exporter.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == len(events), response.text


@contextmanager
def clock(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> Iterator[None]:
    """Cases opened and moved at `moment` (the cases' service reads the time there)."""
    with monkeypatch.context() as patch:
        patch.setattr("app.cases.service.utcnow", lambda: moment)
        yield


def _case(world: World, title: str, category: str) -> dict[str, Any]:
    body = {"title": title, "category": category, "checkpoint_ids": [world.checkpoints["A"]]}
    response = world.client.post(f"{API}/cases", json=body, headers=world.advocate.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _move(world: World, case: dict[str, Any], to: str) -> None:
    response = world.client.post(
        f"{API}/cases/{case['id']}/transitions",
        json={"to": to, "note": ""},
        headers=world.advocate.headers,
    )
    assert response.status_code == 200, response.text


def _cases(world: World) -> None:
    """The month's case story: one submitted in November and still open (its title is
    markup), one from October resolved in November, one submitted in November and
    acknowledged only in December, and a draft never submitted."""
    patch = pytest.MonkeyPatch()
    steps: list[tuple[datetime, str, str | None]] = [
        (datetime(2026, 10, 19, 9), "resolved", None),
        (datetime(2026, 10, 20, 9), "resolved", "submitted"),
        (datetime(2026, 10, 25, 9), "resolved", "acknowledged"),
        (datetime(2026, 11, 2, 9), "resolved", "in_progress"),
        (datetime(2026, 11, 9, 9), "xss", None),
        (datetime(2026, 11, 10, 9), "xss", "submitted"),
        (datetime(2026, 11, 12, 9), "xss", "acknowledged"),
        (datetime(2026, 11, 15, 9), "late", None),
        (datetime(2026, 11, 15, 10), "late", "submitted"),
        (datetime(2026, 11, 16, 9), "draft", None),
        (datetime(2026, 11, 20, 9), "resolved", "resolved"),
        (datetime(2026, 12, 1, 9), "late", "acknowledged"),
    ]
    titles = {
        "xss": (XSS_TITLE, "other"),
        "resolved": ("Fees without receipts at Kirkuk south", "unreceipted_fee"),
        "late": ("Trucks turned back at Diyala bridge", "arbitrary_turn_back"),
        "draft": ("A draft never sent", "permit_demanded"),
    }
    try:
        for moment, name, to in steps:
            with clock(patch, moment.replace(tzinfo=UTC)):
                if to is None:
                    world.cases[name] = _case(world, *titles[name])
                else:
                    _move(world, world.cases[name], to)
    finally:
        patch.undo()


def build_world(client: TestClient) -> World:
    boss = admin(client)
    checkpoints = {
        code: make_checkpoint(client, boss, **body)["id"] for code, body in NAMES.items()
    }
    exporters = [
        make_exporter(client, boss, make_org(client, boss, f"B{n}")) for n in range(EXPORTERS)
    ]
    world = World(client, boss, make_user(client, boss, "advocate"), exporters[0], checkpoints, {})
    rng = random.Random(20261105)
    for day in BUSY_DAYS:
        for index in range(TRIPS_PER_DAY):
            held = {"A"} if index % (3 if day.month == 11 else 4) == 0 else set()
            route = [("A", _dwell("A", day, index)), ("B", _dwell("B", day, index))]
            departure = day.replace(hour=3, tzinfo=UTC) + timedelta(minutes=20 * index)
            _send_trip(world, rng, route, exporters[index % EXPORTERS], departure, held)
    for n in range(2):
        route = [("A", THIN_DWELL["A"][n]), ("C", THIN_DWELL["C"][n])]
        departure = THIN_DAY.replace(hour=2, tzinfo=UTC) + timedelta(minutes=30 * n)
        _send_trip(world, rng, route, exporters[n], departure, set())
    _cases(world)
    return world
