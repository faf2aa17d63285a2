"""k-anonymity and scoping: advocates see groups of at least REPORT_MIN_EXPORTERS exporters,
admins see everything, an exporter sees its own organisation's figures only, a driver sees
no report, and no report ever names an exporter or a shipment."""

import io
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from tests.factories import API, assert_problem
from tests.reports.builders import (
    MIN_EXPORTERS,
    Params,
    World,
    assert_rows,
    expected_report,
    report,
)
from tests.reports.conftest import client_on
from tests.tracking.helpers import driver_headers

VARIANTS: list[tuple[str, Params]] = [
    ("checkpoints", {}),
    ("checkpoints", {"province": "kirkuk"}),
    ("corridors", {}),
    ("agencies", {}),
    ("commodities", {}),
    ("procedures", {}),
    ("procedures", {"by": "checkpoint"}),
    ("trends", {"interval": "week"}),
    ("trends", {"interval": "month"}),
    ("trends", {"interval": "week", "by": "checkpoint"}),
    ("trends", {"interval": "month", "hs_chapter": "72", "province": "baghdad"}),
]
IDS = [f"{name}-{'-'.join(params.values()) or 'all'}" for name, params in VARIANTS]

# The fields that say what a row is about; every other field is a figure.
LABELS = {
    "checkpoints": {"checkpoint_id", "checkpoint_code", "checkpoint_name", "province"},
    "agencies": {"authority", "jurisdiction"},
    "commodities": {"hs_chapter", "chapter_name"},
    "corridors": {"origin_province", "destination_province"},
    "procedures": {"procedure", "checkpoint_id", "checkpoint_code"},
    "trends": {"period_start", "checkpoint_id", "checkpoint_code"},
}

# Groups of fewer than three exporters in the world (see builders.py).
SMALL_GROUPS: list[tuple[str, Params, dict[str, str]]] = [
    ("checkpoints", {}, {"checkpoint_code": "KRK-03"}),
    ("agencies", {}, {"authority": "joint", "jurisdiction": "joint"}),
    ("commodities", {}, {"hs_chapter": "68"}),
    ("corridors", {}, {"origin_province": "sulaymaniyah", "destination_province": "basra"}),
    ("procedures", {}, {"procedure": "transshipment"}),
    ("trends", {"interval": "week"}, {"period_start": "2026-09-28"}),
    ("trends", {"interval": "month"}, {"period_start": "2026-09-01"}),
]


def _find(items: list[dict[str, Any]], match: dict[str, str]) -> dict[str, Any]:
    (row,) = [i for i in items if all(i[k] == v for k, v in match.items())]
    return row


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=IDS)
def test_advocates_see_only_groups_of_enough_exporters(
    world: World, name: str, params: Params
) -> None:
    body = report(world.client, name, world.advocate.headers, **params)

    expected, key = expected_report(world, name, params, min_exporters=MIN_EXPORTERS)
    assert_rows(body["items"], expected, key)
    assert body["min_exporters"] == MIN_EXPORTERS


@pytest.mark.parametrize(
    ("name", "params", "match"),
    SMALL_GROUPS,
    ids=[f"{name}-{'-'.join(match.values())}" for name, _, match in SMALL_GROUPS],
)
def test_a_small_group_is_suppressed_for_advocates_and_shown_to_admins(
    world: World, name: str, params: Params, match: dict[str, str]
) -> None:
    seen = _find(report(world.client, name, world.advocate.headers, **params)["items"], match)
    full = _find(report(world.client, name, world.admin.headers, **params)["items"], match)

    assert seen["suppressed"] is True
    figures = set(seen) - LABELS[name] - {"suppressed"}
    assert figures, "there are figures to hide"
    assert {f: seen[f] for f in figures} == dict.fromkeys(figures), "no figure, no count"
    assert full["suppressed"] is False
    assert full.get("stops", full.get("stops_requiring", full.get("trips"))) >= 1


def test_no_change_is_reported_against_a_suppressed_period(world: World) -> None:
    """Else the change would give away the suppressed week's figures."""
    weeks = {
        who: {
            i["period_start"]: i
            for i in report(world.client, "trends", actor.headers, interval="week")["items"]
        }
        for who, actor in (("advocate", world.advocate), ("admin", world.admin))
    }

    assert weeks["advocate"]["2026-09-28"]["suppressed"] is True
    assert weeks["advocate"]["2026-10-05"]["stops"] == weeks["admin"]["2026-10-05"]["stops"]
    assert weeks["advocate"]["2026-10-05"]["change_stops"] is None
    assert weeks["admin"]["2026-10-05"]["change_stops"] is not None
    assert weeks["advocate"]["2026-10-12"]["change_stops"] is not None


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=IDS)
@pytest.mark.parametrize("org", ["A", "D"])
def test_an_exporter_sees_its_own_organisation_only_and_unsuppressed(
    world: World, org: str, name: str, params: Params
) -> None:
    body = report(world.client, name, world.exporters[org].headers, **params)

    expected, key = expected_report(world, name, params, org=org)
    assert_rows(body["items"], expected, key)
    assert body["min_exporters"] is None
    assert not any(item["suppressed"] for item in body["items"])


def test_an_exporter_sees_its_own_stops_at_a_checkpoint_hidden_from_advocates(
    world: World,
) -> None:
    """KRK-03 is suppressed for advocates (A and B only), but A sees its own trucks there."""
    items = report(world.client, "checkpoints", world.exporters["A"].headers)["items"]

    row = _find(items, {"checkpoint_code": "KRK-03"})
    assert row["suppressed"] is False
    assert row["stops"] == sum(1 for s in world.stops if s.checkpoint == "KRK-03" and s.org == "A")


def _xlsx_text(body: bytes) -> str:
    book = openpyxl.load_workbook(io.BytesIO(body))
    return "\n".join(
        str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row
    )


@pytest.mark.parametrize("fmt", ["json", "csv", "xlsx"])
@pytest.mark.parametrize("who", ["advocate", "admin", "exporter"])
def test_no_report_names_an_exporter_or_a_shipment(world: World, who: str, fmt: str) -> None:
    headers = {
        "advocate": world.advocate.headers,
        "admin": world.admin.headers,
        "exporter": world.exporters["B"].headers,
    }[who]
    secrets = [s.lower() for s in world.secrets()]
    for name, params in VARIANTS:
        query = {**params, **({} if fmt == "json" else {"format": fmt})}
        response = world.client.get(f"{API}/reports/{name}", params=query, headers=headers)
        assert response.status_code == 200, response.text
        text = _xlsx_text(response.content) if fmt == "xlsx" else response.text
        assert not [s for s in secrets if s in text.lower()], (name, params)
    live = world.client.get(f"{API}/checkpoints/status", headers=headers).text.lower()
    assert not [s for s in secrets if s in live]


@pytest.mark.parametrize(
    "path",
    [f"/reports/{name}" for name in LABELS] + ["/reports/checkpoints?format=csv"],
)
def test_a_driver_link_opens_no_report(world: World, path: str) -> None:
    trip = next(t for t in reversed(world.trips) if t.org == "B")
    headers = driver_headers(world.client, world.exporters["B"], trip.shipment)

    response = world.client.get(f"{API}{path}", headers=headers)

    assert_problem(response, 403)


@pytest.mark.parametrize("minimum", [1, 2, 5])
def test_report_min_exporters_decides_what_is_suppressed(
    world: World, world_url: str, minimum: int
) -> None:
    with client_on(world_url, report_min_exporters=minimum) as client:
        bodies = {
            (name, tuple(params.items())): report(client, name, world.advocate.headers, **params)
            for name, params in VARIANTS
        }

    for (name, items), body in bodies.items():
        expected, key = expected_report(world, name, dict(items), min_exporters=minimum)
        assert_rows(body["items"], expected, key)
        assert body["min_exporters"] == minimum
    checkpoints = bodies[("checkpoints", ())]["items"]
    commodities = bodies[("commodities", ())]["items"]
    hidden = {i["checkpoint_code"] for i in checkpoints if i["suppressed"]}
    assert hidden == {1: set(), 2: set(), 5: {i["checkpoint_code"] for i in checkpoints}}[minimum]
    chapter_68 = _find(commodities, {"hs_chapter": "68"})  # one exporter
    assert chapter_68["suppressed"] is (minimum > 1)


def test_reports_need_credentials(client: TestClient) -> None:
    assert_problem(client.get(f"{API}/reports/checkpoints"), 401)
