"""Protected cells and scoping: advocates see sums of cells (checkpoint × UTC day) of at least
REPORT_MIN_EXPORTERS exporters and REPORT_MIN_STOPS completed stops, admins see everything, an
exporter sees its own organisation's figures only, a driver sees no report, and no report ever
names an exporter or a shipment. The advocates' rows are checked against the rule computed
again from the truth (builders.StopCells)."""

import io
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest
from fastapi.testclient import TestClient

from tests.conftest import DatabaseUnderTest, create_pg_database, drop_pg_database, migrate
from tests.factories import API, assert_problem
from tests.reports.builders import (
    MIN_EXPORTERS,
    MIN_STOPS,
    Params,
    World,
    assert_rows,
    build_cells_world,
    expected_excluded_stops,
    expected_report,
    report,
    resolve,
    without_open_cells,
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
# Filters that cut the cells (chapters, destinations), where the complements count.
CUT: list[tuple[str, Params]] = [
    ("checkpoints", {"hs_chapter": "25"}),
    ("checkpoints", {"destination_province": "baghdad"}),
    ("checkpoints", {"hs_chapter": "72", "destination_province": "baghdad"}),
    ("agencies", {"hs_chapter": "04", "to": "2026-11-01T00:00:00Z"}),
    ("commodities", {"hs_chapter": "04"}),
    ("commodities", {"destination_province": "baghdad"}),
    ("corridors", {"hs_chapter": "72"}),
    ("corridors", {"checkpoint_id": "@KRK-03"}),
    ("corridors", {"province": "erbil", "from": "2026-10-19T00:00:00Z"}),
    ("procedures", {"by": "checkpoint", "hs_chapter": "25"}),
    ("trends", {"interval": "week", "by": "checkpoint", "destination_province": "baghdad"}),
]

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
def test_advocates_see_only_cells_of_enough_exporters_and_stops(
    world: World, name: str, params: Params
) -> None:
    body = report(world.client, name, world.advocate.headers, **params)

    expected, key = expected_report(world, name, params, min_exporters=MIN_EXPORTERS)
    assert_rows(body["items"], expected, key)
    assert (body["min_exporters"], body["min_stops"]) == (MIN_EXPORTERS, MIN_STOPS)
    assert body["excluded_stops"] == expected_excluded_stops(world, name, params, MIN_EXPORTERS)


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


def test_no_change_is_reported_against_a_suppressed_period(world: World, world_url: str) -> None:
    """Else the change would give away the suppressed week's figures. (Two exporters and one
    completed stop a cell: the week of 28 September is A's alone, the next ones are shown.)"""
    with client_on(world_url, report_min_exporters=2, report_min_stops=1) as client:
        weeks = {
            who: {
                i["period_start"]: i
                for i in report(client, "trends", actor.headers, interval="week")["items"]
            }
            for who, actor in (("advocate", world.advocate), ("admin", world.admin))
        }

    assert weeks["advocate"]["2026-09-28"]["suppressed"] is True
    assert weeks["advocate"]["2026-10-05"]["suppressed"] is False
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


def _assert_exact_but_cells_of_open_stops(
    world: World, name: str, params: Params, body: dict[str, Any]
) -> None:
    """One exporter and one completed stop a cell: the exact figures, but for the cells whose
    stops are all open (those fail even one completed stop). The corridors count trips: all
    exact. (The commodities' rows cut cells by chapter.) A procedure's shares compare it with
    the stops of the cells where it was done, not with all stops in scope: not the exact ones."""
    if name == "corridors":
        exact, key = expected_report(world, name, params)
        assert_rows(body["items"], exact, key)
        return
    if name == "commodities" or {"hs_chapter", "destination_province"} & set(params):
        return  # cells cut by chapter or destination: their complements decide too
    exact, key = expected_report(without_open_cells(world), name, params)
    if name == "procedures":
        for row in exact.values():
            row.pop("share_of_stops")
            row.pop("share_of_stop_time")
    shown = {key(i): i for i in body["items"] if not i["suppressed"]}
    assert_rows(list(shown.values()), exact, key)  # a group of open cells only: suppressed


THRESHOLDS = [(1, 1), (2, 1), (2, 2), (5, 10)]  # (REPORT_MIN_EXPORTERS, REPORT_MIN_STOPS)


@pytest.mark.parametrize(("min_exporters", "min_stops"), THRESHOLDS)
def test_report_min_exporters_decides_what_is_suppressed(
    world: World, world_url: str, min_exporters: int, min_stops: int
) -> None:
    """Thresholds under which some cells pass and some fail: every advocate's row, and the
    stops left out, against the rule computed from the truth."""
    settings = {"report_min_exporters": min_exporters, "report_min_stops": min_stops}
    with client_on(world_url, **settings) as client:
        bodies = {
            (name, tuple(params.items())): report(
                client, name, world.advocate.headers, **resolve(world, params)
            )
            for name, params in VARIANTS + CUT
        }

    for (name, items), body in bodies.items():
        params = resolve(world, dict(items))
        expected, key = expected_report(world, name, params, None, min_exporters, min_stops)
        assert_rows(body["items"], expected, key)
        assert (body["min_exporters"], body["min_stops"]) == (min_exporters, min_stops)
        excluded = expected_excluded_stops(world, name, params, min_exporters, min_stops)
        assert body["excluded_stops"] == excluded, (name, params)
        if (min_exporters, min_stops) == (1, 1):
            _assert_exact_but_cells_of_open_stops(world, name, params, body)
    checkpoints = bodies[("checkpoints", ())]["items"]
    commodities = bodies[("commodities", ())]["items"]
    hidden = {i["checkpoint_code"] for i in checkpoints if i["suppressed"]}
    if min_exporters == 1:
        assert hidden == set()
    if min_exporters >= 5:  # more than there are
        assert hidden == {i["checkpoint_code"] for i in checkpoints}
    chapter_68 = _find(commodities, {"hs_chapter": "68"})  # one exporter
    assert chapter_68["suppressed"] is (min_exporters > 1)


# --- every branch of the rule, on one day laid out for it (builders.CELLS_TRIPS) -------------


@pytest.fixture(scope="module")
def cells(
    database: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[World, TestClient]]:
    """The one-day world, and a client at two exporters and two completed stops a cell."""
    if database.backend == "postgres":
        url = create_pg_database("clearance_cells")
        migrate(url)
    else:
        url = database.url_for_test(tmp_path_factory.mktemp("cells"))
    with client_on(url, report_min_exporters=2, report_min_stops=2) as client:
        yield build_cells_world(client), client
    if database.backend == "postgres":
        drop_pg_database(url)


CELL_QUESTIONS: list[tuple[str, Params]] = [
    ("checkpoints", {}),
    ("checkpoints", {"hs_chapter": "25"}),
    ("checkpoints", {"hs_chapter": "72"}),
    ("checkpoints", {"hs_chapter": "04"}),
    ("checkpoints", {"destination_province": "basra"}),
    ("checkpoints", {"hs_chapter": "25", "destination_province": "baghdad"}),
    ("checkpoints", {"hs_chapter": "25", "destination_province": "basra"}),
    ("checkpoints", {"hs_chapter": "72", "destination_province": "baghdad"}),
    ("checkpoints", {"hs_chapter": "72", "destination_province": "basra"}),
    ("agencies", {"hs_chapter": "25"}),
    ("commodities", {}),
    ("commodities", {"destination_province": "baghdad"}),
    ("commodities", {"hs_chapter": "25"}),
    ("procedures", {}),
    ("procedures", {"by": "checkpoint", "destination_province": "baghdad"}),
    ("trends", {"interval": "week", "by": "checkpoint", "hs_chapter": "72"}),
    ("corridors", {}),
    ("corridors", {"hs_chapter": "25"}),
    ("corridors", {"checkpoint_id": "@ERB-01"}),
]


@pytest.mark.parametrize(
    ("name", "params"),
    CELL_QUESTIONS,
    ids=[f"{n}-{'-'.join(p.values()) or 'all'}" for n, p in CELL_QUESTIONS],
)
def test_complements_and_crossed_filters_decide_as_the_rule_says(
    cells: tuple[World, TestClient], name: str, params: Params
) -> None:
    world, client = cells
    params = resolve(world, params)

    body = report(client, name, world.advocate.headers, **params)

    expected, key = expected_report(world, name, params, None, 2, 2)
    assert_rows(body["items"], expected, key)
    assert body["excluded_stops"] == expected_excluded_stops(world, name, params, 2, 2)


def test_each_branch_of_the_rule_decides_something(cells: tuple[World, TestClient]) -> None:
    """What builders.CELLS_TRIPS is laid out for, by hand (at 2 exporters, 2 stops)."""
    world, client = cells

    def stops(code: str, **params: str) -> int | None:
        items = report(client, "checkpoints", world.advocate.headers, **params)["items"]
        return next((i["stops"] for i in items if i["checkpoint_code"] == code), None)

    assert stops("ERB-01") == 5  # the lone open stop counts in its passing cell
    assert stops("ERB-01", hs_chapter="72") == 2
    # 25 passes with a passing rest, but with 72 published, D's lone truck would be ERB-01
    # minus both: the smaller (a tie: by number) is withheld.
    assert stops("ERB-01", hs_chapter="25") is None
    assert stops("ERB-01", hs_chapter="04") is None  # a cell of one open stop
    assert stops("KRK-01", hs_chapter="25", destination_province="baghdad") == 2
    assert stops("KRK-01", hs_chapter="72", destination_province="basra") is None  # B alone
    # Each passes, but leaves B's 72 to Basra behind within 72 or within Basra.
    assert stops("KRK-01", hs_chapter="72", destination_province="baghdad") is None
    assert stops("KRK-01", hs_chapter="25", destination_province="basra") is None
    corridors = report(client, "corridors", world.advocate.headers, hs_chapter="25")["items"]
    by_corridor = {(i["origin_province"], i["destination_province"]): i for i in corridors}
    assert by_corridor[("erbil", "baghdad")]["trips"] == 4
    assert by_corridor[("erbil", "basra")]["suppressed"] is True  # B's 72 would be the rest
    procedures = report(client, "procedures", world.advocate.headers)["items"]
    assert {i["procedure"]: i["suppressed"] for i in procedures} == {
        "document_check": False,
        "xray_scan": True,  # one stop
    }


def test_reports_need_credentials(client: TestClient) -> None:
    assert_problem(client.get(f"{API}/reports/checkpoints"), 401)
