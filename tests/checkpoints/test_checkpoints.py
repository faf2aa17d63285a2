"""The checkpoint registry: admins write it, every signed-in caller reads it."""

import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.factories import (
    API,
    Actor,
    admin,
    assert_problem,
    make_checkpoint,
    make_exporter,
    make_user,
)

KIRKUK_SOUTH = {
    "code": " krk-south-01 ",
    "name": "Kirkuk south entrance",
    "name_ar": "سيطرة مدخل كركوك الجنوبي",
    "name_ckb": "بازگەی دەروازەی باشووری کەرکووک",
    "province": "kirkuk",
    "kind": "province_entry",
    "authority": "army",
    "jurisdiction": "federal",
    "latitude": 35.3862,
    "longitude": 44.3971,
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def boss(client: TestClient) -> Actor:
    return admin(client)


@pytest.fixture
def checkpoint(client: TestClient, boss: Actor) -> dict[str, Any]:
    return make_checkpoint(client, boss)


def create(client: TestClient, by: Actor, **overrides: Any) -> httpx.Response:
    return client.post(f"{API}/checkpoints", json={**KIRKUK_SOUTH, **overrides}, headers=by.headers)


def patch(client: TestClient, by: Actor, checkpoint_id: str, body: Any) -> httpx.Response:
    return client.patch(f"{API}/checkpoints/{checkpoint_id}", json=body, headers=by.headers)


def listed_codes(client: TestClient, by: Actor, **params: Any) -> list[str]:
    response = client.get(f"{API}/checkpoints", params=params, headers=by.headers)
    assert response.status_code == 200, response.text
    return [item["code"] for item in response.json()["items"]]


# --- create ---------------------------------------------------------------------------------


def test_admin_creates_a_checkpoint(client: TestClient, boss: Actor) -> None:
    response = create(client, boss)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["code"] == "KRK-SOUTH-01"
    assert body["name"] == KIRKUK_SOUTH["name"]
    assert body["name_ar"] == KIRKUK_SOUTH["name_ar"]
    assert body["name_ckb"] == KIRKUK_SOUTH["name_ckb"]
    assert (body["latitude"], body["longitude"]) == (35.3862, 44.3971)
    assert body["active"] is True
    uuid.UUID(body["id"])
    fetched = client.get(f"{API}/checkpoints/{body['id']}", headers=boss.headers)
    assert fetched.json() == body


def test_defaults_and_no_position(client: TestClient, boss: Actor) -> None:
    body = {"code": "DHK-01", "name": "Duhok", "province": "duhok", "kind": "internal"}
    response = client.post(f"{API}/checkpoints", json=body, headers=boss.headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["authority"], created["jurisdiction"]) == ("other", "federal")
    assert (created["latitude"], created["longitude"]) == (None, None)
    assert (created["name_ar"], created["name_ckb"]) == (None, None)


def test_duplicate_code_is_409_whatever_the_case(client: TestClient, boss: Actor) -> None:
    assert create(client, boss).status_code == 201
    problem = assert_problem(create(client, boss, code="KRK-SOUTH-01", name="Again"), 409)
    assert "KRK-SOUTH-01" in problem["detail"]
    assert len(listed_codes(client, boss)) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("code", "K"),
        ("code", "KRK SOUTH"),
        ("code", "-KRK"),
        ("code", "KRK_SOUTH"),
        ("code", "X" * 33),
        ("name", ""),
        ("province", "atlantis"),
        ("province", "Kirkuk"),
        ("kind", "toll_gate"),
        ("authority", "militia"),
        ("jurisdiction", "united_nations"),
        ("latitude", 91),
        ("latitude", -90.5),
        ("longitude", 180.5),
        ("active", "sometimes"),
        ("owner", "me"),
    ],
)
def test_invalid_field_is_422(client: TestClient, boss: Actor, field: str, value: Any) -> None:
    problem = assert_problem(create(client, boss, **{field: value}), 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", field]]
    assert listed_codes(client, boss) == []


@pytest.mark.parametrize("missing", ["latitude", "longitude"])
def test_half_a_position_is_422(client: TestClient, boss: Actor, missing: str) -> None:
    body = {k: v for k, v in KIRKUK_SOUTH.items() if k != missing}
    response = client.post(f"{API}/checkpoints", json=body, headers=boss.headers)
    problem = assert_problem(response, 422)
    assert "latitude and longitude together" in problem["errors"][0]["msg"]
    assert listed_codes(client, boss) == []


# --- who may read and write -----------------------------------------------------------------


def test_every_signed_in_role_can_list_and_get(
    client: TestClient, boss: Actor, checkpoint: dict[str, Any]
) -> None:
    exporter = make_exporter(client, boss)
    key = client.post(f"{API}/api-keys", json={"name": "ERP"}, headers=exporter.headers)
    readers = {
        "admin": boss.headers,
        "exporter": exporter.headers,
        "advocate": make_user(client, boss, "advocate").headers,
        "api key": bearer(key.json()["key"]),
    }
    for who, headers in readers.items():
        listed = client.get(f"{API}/checkpoints", headers=headers)
        assert listed.status_code == 200, who
        assert [c["id"] for c in listed.json()["items"]] == [checkpoint["id"]], who
        got = client.get(f"{API}/checkpoints/{checkpoint['id']}", headers=headers)
        assert got.status_code == 200, who
        assert got.json() == checkpoint, who


def test_anonymous_gets_401(client: TestClient, checkpoint: dict[str, Any]) -> None:
    assert_problem(client.get(f"{API}/checkpoints"), 401)
    assert_problem(client.get(f"{API}/checkpoints/{checkpoint['id']}"), 401)
    assert_problem(client.post(f"{API}/checkpoints", json=KIRKUK_SOUTH), 401)
    assert_problem(client.patch(f"{API}/checkpoints/{checkpoint['id']}", json={}), 401)


@pytest.mark.parametrize("role", ["exporter", "advocate"])
def test_only_admins_create_or_change(
    client: TestClient, boss: Actor, checkpoint: dict[str, Any], role: str
) -> None:
    user = make_exporter(client, boss) if role == "exporter" else make_user(client, boss, role)
    assert_problem(create(client, user), 403)
    assert_problem(patch(client, user, checkpoint["id"], {"name": "Mine now"}), 403)
    got = client.get(f"{API}/checkpoints/{checkpoint['id']}", headers=boss.headers)
    assert got.json() == checkpoint
    assert listed_codes(client, boss) == [checkpoint["code"]]


def test_unknown_id_is_404(client: TestClient, boss: Actor) -> None:
    unknown = str(uuid.uuid4())
    assert_problem(client.get(f"{API}/checkpoints/{unknown}", headers=boss.headers), 404)
    assert_problem(patch(client, boss, unknown, {"name": "Ghost"}), 404)


def test_malformed_id_is_422(client: TestClient, boss: Actor) -> None:
    problem = assert_problem(client.get(f"{API}/checkpoints/KRK-1", headers=boss.headers), 422)
    assert problem["errors"][0]["loc"] == ["path", "checkpoint_id"]


# --- update ---------------------------------------------------------------------------------


def test_patch_updates_fields_and_updated_at(
    client: TestClient, boss: Actor, checkpoint: dict[str, Any]
) -> None:
    changes = {
        "name": "Kirkuk south (new gate)",
        "name_ckb": "دەروازەی نوێ",
        "kind": "customs",
        "authority": "joint",
        "jurisdiction": "joint",
        "latitude": 35.1,
        "longitude": 44.2,
        "active": False,
    }
    response = patch(client, boss, checkpoint["id"], changes)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated == {**checkpoint, **changes, "updated_at": updated["updated_at"]}
    assert updated["updated_at"] > checkpoint["updated_at"]
    assert updated["created_at"] == checkpoint["created_at"]
    again = client.get(f"{API}/checkpoints/{checkpoint['id']}", headers=boss.headers)
    assert again.json() == updated


def test_patch_clears_optional_names_and_keeps_required_ones(
    client: TestClient, boss: Actor, checkpoint: dict[str, Any]
) -> None:
    response = patch(client, boss, checkpoint["id"], {"name_ar": None, "name": None})
    assert response.status_code == 200, response.text
    assert response.json()["name_ar"] is None
    assert response.json()["name"] == checkpoint["name"]


def test_patch_moves_latitude_alone(
    client: TestClient, boss: Actor, checkpoint: dict[str, Any]
) -> None:
    response = patch(client, boss, checkpoint["id"], {"latitude": 35.5})
    assert response.status_code == 200, response.text
    assert (response.json()["latitude"], response.json()["longitude"]) == (
        35.5,
        checkpoint["longitude"],
    )


def test_patch_clears_the_whole_position(
    client: TestClient, boss: Actor, checkpoint: dict[str, Any]
) -> None:
    response = patch(client, boss, checkpoint["id"], {"latitude": None, "longitude": None})
    assert response.status_code == 200, response.text
    assert (response.json()["latitude"], response.json()["longitude"]) == (None, None)


@pytest.mark.parametrize(
    "body",
    [{"latitude": None}, {"longitude": None}, {"latitude": 36.0, "longitude": None}],
)
def test_patch_leaving_half_a_position_is_422(
    client: TestClient, boss: Actor, checkpoint: dict[str, Any], body: dict[str, Any]
) -> None:
    problem = assert_problem(patch(client, boss, checkpoint["id"], body), 422)
    assert problem["errors"]
    got = client.get(f"{API}/checkpoints/{checkpoint['id']}", headers=boss.headers)
    assert got.json() == checkpoint


def test_patch_giving_only_latitude_to_a_checkpoint_without_position_is_422(
    client: TestClient, boss: Actor
) -> None:
    bare = make_checkpoint(client, boss, latitude=None, longitude=None)
    assert_problem(patch(client, boss, bare["id"], {"latitude": 36.0}), 422)


@pytest.mark.parametrize(
    "body", [{"code": "NEW-CODE"}, {"latitude": 91}, {"province": "atlantis"}, ["name"]]
)
def test_patch_rejects_bad_bodies(
    client: TestClient, boss: Actor, checkpoint: dict[str, Any], body: Any
) -> None:
    assert_problem(patch(client, boss, checkpoint["id"], body), 422)
    got = client.get(f"{API}/checkpoints/{checkpoint['id']}", headers=boss.headers)
    assert got.json() == checkpoint


# --- list: filters and pagination -----------------------------------------------------------


@pytest.fixture
def registry(client: TestClient, boss: Actor) -> dict[str, dict[str, Any]]:
    specs = {
        "KRK-SOUTH": {"name": "Kirkuk South", "name_ar": "سيطرة كركوك", "province": "kirkuk"},
        "KRK-TAZA": {
            "name": "Taza",
            "name_ar": "سيطرة تازة",
            "province": "kirkuk",
            "active": False,
        },
        "ERB-GWER": {"name": "Gwer bridge", "name_ar": "جسر كوير", "province": "erbil"},
        "BGD-TAJI": {"name": "Taji", "name_ar": "سيطرة التاجي", "province": "baghdad"},
    }
    kinds = {"KRK-SOUTH": "province_entry", "KRK-TAZA": "internal", "ERB-GWER": "internal"}
    return {
        code: make_checkpoint(client, boss, code=code, kind=kinds.get(code, "customs"), **spec)
        for code, spec in specs.items()
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"KRK-SOUTH", "KRK-TAZA", "ERB-GWER", "BGD-TAJI"}),
        ({"province": "kirkuk"}, {"KRK-SOUTH", "KRK-TAZA"}),
        ({"kind": "internal"}, {"KRK-TAZA", "ERB-GWER"}),
        ({"active": "true"}, {"KRK-SOUTH", "ERB-GWER", "BGD-TAJI"}),
        ({"active": "false"}, {"KRK-TAZA"}),
        ({"province": "kirkuk", "active": "true"}, {"KRK-SOUTH"}),
        ({"q": "krk"}, {"KRK-SOUTH", "KRK-TAZA"}),  # code, any case
        ({"q": "BRIDGE"}, {"ERB-GWER"}),  # English name, any case
        ({"q": "التاجي"}, {"BGD-TAJI"}),  # Arabic name
        ({"q": "سيطرة"}, {"KRK-SOUTH", "KRK-TAZA", "BGD-TAJI"}),
        ({"q": "بازگە"}, {"KRK-SOUTH", "KRK-TAZA", "ERB-GWER", "BGD-TAJI"}),  # Sorani (factory)
        ({"q": "%"}, set()),  # a LIKE wildcard is searched for, not obeyed
        ({"q": "_"}, set()),
        ({"q": "nowhere"}, set()),
        ({"province": "basra"}, set()),
    ],
)
def test_list_filters(
    client: TestClient,
    boss: Actor,
    registry: dict[str, dict[str, Any]],
    params: dict[str, str],
    expected: set[str],
) -> None:
    assert set(listed_codes(client, boss, **params)) == expected


@pytest.mark.parametrize(
    "params", [{"province": "atlantis"}, {"kind": "toll"}, {"active": "maybe"}, {"q": "x" * 101}]
)
def test_bad_filter_is_422(client: TestClient, boss: Actor, params: dict[str, str]) -> None:
    response = client.get(f"{API}/checkpoints", params=params, headers=boss.headers)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["query", next(iter(params))]


def test_cursor_pagination_walks_every_checkpoint_once_newest_first(
    client: TestClient, boss: Actor
) -> None:
    made = [make_checkpoint(client, boss)["id"] for _ in range(7)]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    for _ in range(10):
        response = client.get(f"{API}/checkpoints", params=params, headers=boss.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 3
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == list(reversed(made))


def test_pagination_keeps_filters(client: TestClient, boss: Actor) -> None:
    for _ in range(3):
        make_checkpoint(client, boss, province="erbil")
    make_checkpoint(client, boss, province="basra")
    first = client.get(
        f"{API}/checkpoints", params={"province": "erbil", "limit": 2}, headers=boss.headers
    ).json()
    second = client.get(
        f"{API}/checkpoints",
        params={"province": "erbil", "limit": 2, "cursor": first["next_cursor"]},
        headers=boss.headers,
    ).json()
    assert len(first["items"]) == 2
    assert len(second["items"]) == 1
    assert second["next_cursor"] is None
    assert {c["province"] for c in first["items"] + second["items"]} == {"erbil"}


def test_a_forged_cursor_is_422(client: TestClient, boss: Actor) -> None:
    response = client.get(f"{API}/checkpoints", params={"cursor": "bm9wZQ"}, headers=boss.headers)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["query", "cursor"]
