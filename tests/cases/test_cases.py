"""Complaint cases: opened from what the reports show, with a reference that is never given
twice and a frozen snapshot of the figures as advocates see them; moved step by step, each
dated with who moved it and why; the focal point of the agency attached on submission; and
the Tripartite figures of our own cases (GET /reports/cases).

The figures come from the differencing tests' town (two checkpoints, five exporters, three
busy days and a thin fourth one), built through the API.
"""

import re
import statistics
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import DatabaseUnderTest, module_database
from tests.factories import API, Actor, assert_problem, make_user
from tests.reports.conftest import client_on
from tests.reports.test_differencing import Town, build_town, day

FORWARD = ("submitted", "acknowledged", "in_progress")


@pytest.fixture(scope="module")
def town(database: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    with module_database(database, tmp_path_factory, "cases") as url, client_on(url) as client:
        yield build_town(client)


def open_case(town: Town, who: Actor, **body: Any) -> dict[str, Any]:
    body = {"title": "Fees without receipts at Kirkuk", "category": "unreceipted_fee", **body}
    response = town.client.post(f"{API}/cases", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def move(
    town: Town, case: dict[str, Any], to: str, who: Actor | None = None, note: str = ""
) -> Any:
    return town.client.post(
        f"{API}/cases/{case['id']}/transitions",
        json={"to": to, "note": note},
        headers=(who or town.advocate).headers,
    )


def advocate_rows(town: Town, checkpoint: str, **params: str) -> list[dict[str, Any]]:
    response = town.client.get(
        f"{API}/reports/checkpoints", params=params, headers=town.advocate.headers
    )
    assert response.status_code == 200, response.text
    return [r for r in response.json()["items"] if r["checkpoint_id"] == checkpoint]


# --- opening ---------------------------------------------------------------------------------


def test_a_case_is_a_draft_with_the_years_next_reference_and_a_snapshot(town: Town) -> None:
    p = town.checkpoints["P"]
    filters = {"from": day(0), "to": day(3)}
    case = open_case(town, town.advocate, checkpoint_ids=[p], filters=filters, summary="s")
    assert re.fullmatch(rf"CASE-{datetime.now().year}-\d{{4}}", case["reference"])
    assert case["status"] == "draft"
    assert case["history"] == []
    assert case["allowed_steps"] == ["submitted", "withdrawn"]
    assert case["checkpoint_ids"] == [p]
    assert case["filters"] == filters
    # The snapshot is the advocate's checkpoint report for those filters, row for row.
    assert case["snapshot"]["items"] == advocate_rows(town, p, **filters)
    assert case["snapshot"]["items"][0]["completed_stops"] == 60


def test_an_admins_case_carries_the_advocates_figures_not_the_exact_ones(town: Town) -> None:
    """Every advocate reads every case: one opened by an admin over the thin day (two
    trucks) shows that row suppressed, as the advocates' report does."""
    p = town.checkpoints["P"]
    thin = {"from": day(3), "to": day(4)}
    case = open_case(town, town.admin, checkpoint_ids=[p], filters=thin)
    (row,) = case["snapshot"]["items"]
    assert row["suppressed"] is True
    assert row["completed_stops"] is None
    exact = town.client.get(
        f"{API}/reports/checkpoints", params=thin, headers=town.admin.headers
    ).json()["items"]
    assert [r["completed_stops"] for r in exact if r["checkpoint_id"] == p] == [2]


def test_references_are_sequential_and_never_given_twice(town: Town) -> None:
    def one(_: int) -> str:
        return str(open_case(town, town.advocate)["reference"])

    with ThreadPoolExecutor(8) as pool:
        references = list(pool.map(one, range(16)))
    numbers = sorted(int(r.rsplit("-", 1)[1]) for r in references)
    assert len(set(numbers)) == 16
    assert numbers == list(range(numbers[0], numbers[0] + 16))


def test_the_snapshot_stays_and_current_figures_move(town: Town) -> None:
    p = town.checkpoints["P"]
    case = open_case(town, town.advocate, checkpoint_ids=[p], filters={"from": day(0)})
    read = town.client.get(f"{API}/cases/{case['id']}", headers=town.advocate.headers).json()
    assert read["snapshot"] == case["snapshot"]
    assert read["current"]["items"] == advocate_rows(town, p, **{"from": day(0)})


def test_a_case_names_an_agency_and_gets_its_row(town: Town) -> None:
    agency = {"authority": "army", "jurisdiction": "federal"}
    case = open_case(town, town.advocate, agency=agency, filters={"from": day(0), "to": day(3)})
    assert case["agency"] == agency
    row = case["snapshot"]["agency"]
    assert (row["authority"], row["jurisdiction"]) == ("army", "federal")
    assert row["completed_stops"] == 60  # P is the army's checkpoint


# --- steps -----------------------------------------------------------------------------------


def test_a_case_moves_step_by_step_to_resolution_with_its_history(town: Town) -> None:
    case = open_case(town, town.advocate)
    for to in FORWARD:
        response = move(town, case, to, note=f"now {to}")
        assert response.status_code == 200, response.text
    response = move(town, case, "resolved", who=town.admin, note="single inspection agreed")
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["status"] == "resolved"
    assert done["allowed_steps"] == []
    assert [(h["from"], h["to"]) for h in done["history"]] == [
        ("draft", "submitted"),
        ("submitted", "acknowledged"),
        ("acknowledged", "in_progress"),
        ("in_progress", "resolved"),
    ]
    assert done["history"][-1]["note"] == "single inspection agreed"
    assert done["history"][-1]["by"] == town.admin.user["id"]
    assert done["history"][0]["by"] == town.advocate.user["id"]
    ats = [h["at"] for h in done["history"]]
    assert ats == sorted(ats)
    assert done["submitted_at"] == done["history"][0]["at"]
    assert done["closed_at"] == done["history"][-1]["at"]


@pytest.mark.parametrize(
    ("path", "to", "allowed"),
    [
        ((), "acknowledged", ["submitted", "withdrawn"]),
        ((), "resolved", ["submitted", "withdrawn"]),
        (("submitted",), "in_progress", ["acknowledged", "withdrawn"]),
        (("submitted", "acknowledged"), "rejected", ["in_progress", "withdrawn"]),
        (("withdrawn",), "submitted", []),
        (("submitted", "acknowledged", "in_progress", "rejected"), "withdrawn", []),
    ],
)
def test_a_step_out_of_order_is_a_409_listing_the_allowed_ones(
    town: Town, path: tuple[str, ...], to: str, allowed: list[str]
) -> None:
    case = open_case(town, town.advocate)
    for step in path:
        assert move(town, case, step).status_code == 200
    response = move(town, case, to)
    problem = assert_problem(response, 409)
    assert problem["allowed"] == allowed
    read = town.client.get(f"{API}/cases/{case['id']}", headers=town.advocate.headers).json()
    assert len(read["history"]) == len(path)  # nothing stored


def test_any_open_case_can_be_withdrawn(town: Town) -> None:
    for depth in range(4):
        case = open_case(town, town.advocate)
        for step in FORWARD[:depth]:
            assert move(town, case, step).status_code == 200
        response = move(town, case, "withdrawn", note="the union withdrew it")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "withdrawn"


def test_the_agencys_focal_point_is_attached_on_submission(town: Town) -> None:
    response = town.client.post(
        f"{API}/focal-points",
        json={
            "authority": "customs",
            "jurisdiction": "federal",
            "name": "Customs directorate, Baghdad",
            "contact": "complaints@customs.example",
        },
        headers=town.admin.headers,
    )
    assert response.status_code == 201, response.text
    point = response.json()
    again = town.client.post(
        f"{API}/focal-points",
        json={**{k: point[k] for k in ("authority", "jurisdiction", "name", "contact")}},
        headers=town.admin.headers,
    )
    assert_problem(again, 409)
    q = town.checkpoints["Q"]  # customs, federal
    case = open_case(town, town.advocate, checkpoint_ids=[q])
    assert case["focal_point"] is None
    submitted = move(town, case, "submitted").json()
    assert submitted["focal_point"] == point
    listed = town.client.get(f"{API}/focal-points", headers=town.advocate.headers).json()
    assert point in listed


# --- bad input ---------------------------------------------------------------------------------


def case_count(town: Town) -> int:
    count, cursor = 0, None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        body = town.client.get(f"{API}/cases", params=params, headers=town.admin.headers).json()
        count += len(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return count


@pytest.mark.parametrize(
    "body",
    [
        {"checkpoint_ids": ["00000000-0000-4000-8000-000000000000"]},
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"summary": "x" * 10_001},
        {"category": "bribery"},
        {"filters": {"hs_chapter": "4"}},
        {"filters": {"from": "2026-11-02T10:00:00Z"}},  # advocates' windows are whole days
        {"filters": {"evidence": "maybe"}},
        {"agency": {"authority": "navy", "jurisdiction": "federal"}},
        {"surprise": 1},
    ],
)
def test_bad_input_is_a_422_and_stores_nothing(town: Town, body: dict[str, Any]) -> None:
    before = case_count(town)
    full = {"title": "t", "category": "other", **body}
    response = town.client.post(f"{API}/cases", json=full, headers=town.advocate.headers)
    assert_problem(response, 422)
    assert case_count(town) == before


def test_markup_is_stored_as_the_text_it_is(town: Town) -> None:
    title = '<script>alert("x")</script> & <b>fees</b>'
    case = open_case(town, town.advocate, title=title, summary="<img src=x onerror=alert(1)>")
    read = town.client.get(f"{API}/cases/{case['id']}", headers=town.advocate.headers).json()
    assert read["title"] == title
    assert read["summary"] == "<img src=x onerror=alert(1)>"


def test_unknown_cases_and_steps(town: Town) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    assert_problem(town.client.get(f"{API}/cases/{missing}", headers=town.advocate.headers), 404)
    assert_problem(move(town, {"id": missing}, "submitted"), 404)
    case = open_case(town, town.advocate)
    assert_problem(move(town, case, "reopened"), 422)
    assert_problem(move(town, case, "submitted", note="x" * 10_001), 422)


# --- listing and the cases' own figures ----------------------------------------------------------


def test_cases_are_listed_newest_first_and_filtered(town: Town) -> None:
    mine = open_case(town, town.advocate, category="queue_or_closure", title="Queue at Q")
    body = town.client.get(
        f"{API}/cases", params={"category": "queue_or_closure"}, headers=town.advocate.headers
    ).json()
    assert body["items"][0]["id"] == mine["id"]
    assert {c["category"] for c in body["items"]} == {"queue_or_closure"}
    drafts = town.client.get(
        f"{API}/cases", params={"status": "draft"}, headers=town.advocate.headers
    ).json()
    assert {c["status"] for c in drafts["items"]} == {"draft"}


def test_the_case_report_gives_the_tripartite_figures(town: Town) -> None:
    """Per agency and category, recomputed here from the cases' own histories."""
    other = make_user(town.client, town.admin, "advocate")
    p = town.checkpoints["P"]  # army, federal
    made = [
        open_case(town, other, category="permit_demanded", checkpoint_ids=[p]) for _ in range(4)
    ]
    for case, steps in zip(
        made,
        [(*FORWARD, "resolved"), (*FORWARD, "resolved"), ("submitted",), ()],
        strict=True,
    ):
        for step in steps:
            assert move(town, case, step, who=other).status_code == 200
    report = town.client.get(f"{API}/reports/cases", headers=town.advocate.headers)
    assert report.status_code == 200, report.text
    (row,) = [
        r
        for r in report.json()["items"]
        if (r["authority"], r["jurisdiction"], r["category"])
        == ("army", "federal", "permit_demanded")
    ]
    cases = [town.client.get(f"{API}/cases/{c['id']}", headers=other.headers).json() for c in made]
    submitted = [c for c in cases if c["submitted_at"]]
    resolved = [c for c in cases if c["status"] == "resolved"]
    days = [
        (
            datetime.fromisoformat(c["closed_at"]) - datetime.fromisoformat(c["submitted_at"])
        ).total_seconds()
        / 86400
        for c in resolved
    ]
    assert row["opened"] == len(submitted) == 3
    assert row["resolved"] == 2
    assert row["resolution_rate"] == pytest.approx(2 / 3)
    assert row["median_days_to_resolve"] == pytest.approx(statistics.median(days))
    assert row["oldest_open_days"] is not None
    assert 0 <= row["oldest_open_days"] < 1
