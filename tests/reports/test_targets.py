"""A service standard per checkpoint: an admin sets P's target (100 minutes for half of the
trucks); checkpoint and trend rows say how many trucks were within their own checkpoint's
target and whether it was met, from the stops and from the cells (indexed ones too), for
admins and advocates. The truth is the town's own record of each stop's dwell."""

from collections.abc import Iterator
from typing import Any

import pytest

from app.reports import rollups, value_index
from tests.conftest import DatabaseUnderTest, module_database
from tests.factories import API, assert_problem
from tests.reports.conftest import client_on
from tests.reports.test_differencing import MIN_STOPS, Town, build_town, day

P_MINUTES, P_SHARE = 100, 0.5
DEFAULT_MINUTES, DEFAULT_SHARE = 60, 0.9


@pytest.fixture(scope="module")
def town(database: DatabaseUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    with module_database(database, tmp_path_factory, "targets") as url, client_on(url) as client:
        town = build_town(client)
        response = client.put(
            f"{API}/checkpoints/{town.checkpoints['P']}/target",
            json={"target_minutes": P_MINUTES, "target_share": P_SHARE},
            headers=town.admin.headers,
        )
        assert response.status_code == 200, response.text
        assert (response.json()["target_minutes"], response.json()["target_share"]) == (100, 0.5)
        yield town


def target_of(code: str) -> tuple[int, float]:
    return (P_MINUTES, P_SHARE) if code == "P" else (DEFAULT_MINUTES, DEFAULT_SHARE)


def expected(town: Town, code: str, days: range) -> dict[str, Any]:
    minutes, share = target_of(code)
    dwell = [s.dwell for s in town.stops if s.checkpoint == code and s.day in days]
    within = sum(d <= minutes for d in dwell) / len(dwell)
    return {
        "target_minutes": minutes,
        "target_share": share,
        "within_target_share": pytest.approx(within),
        "meets_target": within >= share,
    }


def rows(town: Town, name: str, who: str = "admin", **params: str) -> list[dict[str, Any]]:
    headers = (town.admin if who == "admin" else town.advocate).headers
    response = town.client.get(f"{API}/reports/{name}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def checkpoint_rows(town: Town, who: str = "admin", **params: str) -> dict[str, dict[str, Any]]:
    codes = {v: k for k, v in town.checkpoints.items()}
    return {codes[r["checkpoint_id"]]: r for r in rows(town, "checkpoints", who, **params)}


def target_part(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: row[k] for k in ("target_minutes", "target_share", "within_target_share", "meets_target")
    }


@pytest.mark.parametrize("path", ["stops", "day cells", "indexed month cells"])
def test_each_checkpoint_is_held_to_its_own_target(
    town: Town, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rollups.refresh_all(town.client.app.state.session_factory)  # type: ignore[attr-defined]
    if path == "stops":
        params = {"from": "2026-11-02T00:30:00Z"}  # an edge day: read from the stops
    elif path == "day cells":
        params = {"from": day(0), "to": day(4)}
    else:
        monkeypatch.setattr(value_index, "INDEXED_FROM", 1)  # every month cell by its index
        params = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}
    found = checkpoint_rows(town, **params)
    for code in ("P", "Q"):
        assert target_part(found[code]) == expected(town, code, range(4)), code
    assert found["P"]["within_standard_share"] != found["P"]["within_target_share"]


def test_an_advocates_rows_count_the_cells_shown(town: Town) -> None:
    """The thin fourth day (two trucks) is left out of the advocate's P row: its target
    figures are those of the three busy days."""
    found = checkpoint_rows(town, "advocate", **{"from": day(0), "to": day(4)})
    assert target_part(found["P"]) == expected(town, "P", range(3))
    assert found["P"]["completed_stops"] == 3 * 20
    assert 3 * 20 >= MIN_STOPS


def test_trend_rows_by_checkpoint_and_overall(town: Town) -> None:
    by_checkpoint = rows(town, "trends", interval="month", by="checkpoint")
    (p_row,) = [r for r in by_checkpoint if r["checkpoint_id"] == town.checkpoints["P"]]
    assert target_part(p_row) == expected(town, "P", range(4))
    (overall,) = rows(town, "trends", interval="month")
    # Over both checkpoints, each stop against its own checkpoint's target; no single target.
    within = sum(s.dwell <= target_of(s.checkpoint)[0] for s in town.stops) / len(town.stops)
    assert overall["within_target_share"] == pytest.approx(within)
    assert (overall["target_minutes"], overall["target_share"], overall["meets_target"]) == (
        None,
        None,
        None,
    )


def test_a_suppressed_row_has_no_target_figures(town: Town) -> None:
    thin = checkpoint_rows(town, "advocate", **{"from": day(3), "to": day(4)})
    assert thin["P"]["suppressed"] is True
    assert thin["P"]["within_target_share"] is None
    assert thin["P"]["meets_target"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"target_minutes": 0, "target_share": 0.9},
        {"target_minutes": 60, "target_share": 0},
        {"target_minutes": 60, "target_share": 1.5},
        {"target_minutes": 60 * 24 * 8, "target_share": 0.9},
        {"target_minutes": 60},
        {"target_minutes": 60, "target_share": 0.9, "colour": "red"},
    ],
)
def test_bad_targets_are_422_and_change_nothing(town: Town, body: dict[str, Any]) -> None:
    q = town.checkpoints["Q"]
    response = town.client.put(
        f"{API}/checkpoints/{q}/target", json=body, headers=town.admin.headers
    )
    assert_problem(response, 422)
    read = town.client.get(f"{API}/checkpoints/{q}", headers=town.admin.headers).json()
    assert (read["target_minutes"], read["target_share"]) == (None, None)


def test_only_admins_set_targets_and_null_restores_the_default(town: Town) -> None:
    q = town.checkpoints["Q"]
    body = {"target_minutes": 45, "target_share": 0.9}
    for who in (town.advocate, town.exporters[0]):
        assert_problem(
            town.client.put(f"{API}/checkpoints/{q}/target", json=body, headers=who.headers), 403
        )
    missing = "00000000-0000-4000-8000-000000000000"
    assert_problem(
        town.client.put(
            f"{API}/checkpoints/{missing}/target", json=body, headers=town.admin.headers
        ),
        404,
    )
    set_ = town.client.put(f"{API}/checkpoints/{q}/target", json=body, headers=town.admin.headers)
    assert set_.status_code == 200
    assert checkpoint_rows(town)["Q"]["target_minutes"] == 45
    cleared = town.client.put(
        f"{API}/checkpoints/{q}/target",
        json={"target_minutes": None, "target_share": None},
        headers=town.admin.headers,
    )
    assert cleared.status_code == 200
    assert target_part(checkpoint_rows(town)["Q"]) == expected(town, "Q", range(4))
