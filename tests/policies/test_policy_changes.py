"""Recording and reading policy changes; bad input refused with nothing stored; the trends'
markers."""

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import API, Actor, admin, assert_problem, make_checkpoint, make_user


def body(checkpoint_ids: list[str], **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "Single inspection at Kirkuk south",
        "effective_at": "2026-12-01T00:00:00+03:00",
        "checkpoint_ids": checkpoint_ids,
        "description": "Customs and the army inspect together, once.",
        "source_url": "https://example.org/decree-114",
    }
    data.update(overrides)
    return data


def stored(client: TestClient, who: Actor) -> list[dict[str, Any]]:
    response = client.get(f"{API}/policy-changes", headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_advocate_records_a_change_and_everyone_reads_it(client: TestClient) -> None:
    boss = admin(client)
    advocate = make_user(client, boss, "advocate")
    south = make_checkpoint(client, boss, code="KRK-S")
    north = make_checkpoint(client, boss, code="KRK-N")
    response = client.post(
        f"{API}/policy-changes",
        json=body([south["id"], north["id"]]),
        headers=advocate.headers,
    )
    assert response.status_code == 201, response.text
    change = response.json()
    # Stored and returned in UTC; checkpoints in the order of their codes.
    assert change["effective_at"] == "2026-11-30T21:00:00Z"
    assert change["checkpoint_ids"] == [north["id"], south["id"]]
    assert change["source_url"] == "https://example.org/decree-114"
    got = client.get(f"{API}/policy-changes/{change['id']}", headers=boss.headers)
    assert got.json() == change
    assert stored(client, advocate) == [change]
    # Filtered by checkpoint.
    other = make_checkpoint(client, boss)
    for checkpoint, expected in ((north, [change]), (other, [])):
        listed = client.get(
            f"{API}/policy-changes",
            params={"checkpoint_id": checkpoint["id"]},
            headers=boss.headers,
        )
        assert listed.json()["items"] == expected


def test_pages_of_changes_carry_a_cursor(client: TestClient) -> None:
    boss = admin(client)
    checkpoint = make_checkpoint(client, boss)
    ids = [
        client.post(
            f"{API}/policy-changes",
            json=body([checkpoint["id"]], title=f"n{n}"),
            headers=boss.headers,
        ).json()["id"]
        for n in range(3)
    ]
    first = client.get(f"{API}/policy-changes", params={"limit": 2}, headers=boss.headers).json()
    assert first["next_cursor"] is not None
    rest = client.get(
        f"{API}/policy-changes",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=boss.headers,
    ).json()
    assert rest["next_cursor"] is None
    seen = [c["id"] for c in first["items"] + rest["items"]]
    assert sorted(seen) == sorted(ids)
    assert len(set(seen)) == 3


def test_markup_is_stored_as_text_as_given(client: TestClient) -> None:
    boss = admin(client)
    checkpoint = make_checkpoint(client, boss)
    title = '<script>alert("x")</script> & <b>bold</b>'
    description = "<img src=x onerror=alert(1)>\n  two lines  "
    response = client.post(
        f"{API}/policy-changes",
        json=body([checkpoint["id"]], title=title, description=description),
        headers=boss.headers,
    )
    assert response.status_code == 201, response.text
    again = client.get(f"{API}/policy-changes/{response.json()['id']}", headers=boss.headers)
    assert again.json()["title"] == title
    assert again.json()["description"] == description
    assert again.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"description": "x" * 10_001}, "description"),
        ({"description": ""}, "description"),
        ({"source_url": "javascript:alert(1)"}, "source_url"),
        ({"source_url": "ftp://example.org/x"}, "source_url"),
        ({"source_url": "example.org/decree"}, "source_url"),
        ({"effective_at": "2026-12-01T00:00:00"}, "effective_at"),  # no offset
        ({"effective_at": "9999-12-31T00:00:00Z"}, "effective_at"),  # windows would overflow
        ({"effective_at": "0001-01-01T00:00:00Z"}, "effective_at"),
        ({"title": "single\x00inspection"}, "title"),  # PostgreSQL text holds no NUL
        ({"description": "a\x00b"}, "description"),
        ({"checkpoint_ids": []}, "checkpoint_ids"),
        ({"checkpoint_ids": "unknown"}, "checkpoint_ids"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_refused_and_nothing_stored(
    client: TestClient, overrides: dict[str, Any], where: str
) -> None:
    boss = admin(client)
    checkpoint = make_checkpoint(client, boss)
    response = client.post(
        f"{API}/policy-changes",
        json={**body([checkpoint["id"]]), **overrides},
        headers=boss.headers,
    )
    problem = assert_problem(response, 422)
    assert any(where in map(str, error["loc"]) for error in problem["errors"]), problem
    assert stored(client, boss) == []


def test_a_description_of_exactly_ten_thousand_characters_is_kept(client: TestClient) -> None:
    boss = admin(client)
    checkpoint = make_checkpoint(client, boss)
    response = client.post(
        f"{API}/policy-changes",
        json=body([checkpoint["id"]], description="x" * 10_000, source_url=None),
        headers=boss.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["source_url"] is None


def test_unknown_or_repeated_checkpoints_are_refused(client: TestClient) -> None:
    boss = admin(client)
    known = make_checkpoint(client, boss)["id"]
    unknown = str(uuid.uuid4())
    response = client.post(
        f"{API}/policy-changes", json=body([known, unknown]), headers=boss.headers
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"] == ["body", "checkpoint_ids", 1]
    assert unknown in problem["detail"]
    twice = client.post(f"{API}/policy-changes", json=body([known, known]), headers=boss.headers)
    assert_problem(twice, 422)
    assert stored(client, boss) == []


def test_unknown_change_is_404_and_weeks_out_of_range_422(client: TestClient) -> None:
    boss = admin(client)
    checkpoint = make_checkpoint(client, boss)
    change = client.post(
        f"{API}/policy-changes", json=body([checkpoint["id"]]), headers=boss.headers
    ).json()
    missing = str(uuid.uuid4())
    assert_problem(client.get(f"{API}/policy-changes/{missing}", headers=boss.headers), 404)
    effects = f"{API}/reports/effects"
    assert_problem(
        client.get(effects, params={"policy_change_id": missing}, headers=boss.headers), 404
    )
    for weeks in (0, 27, -1):
        response = client.get(
            effects, params={"policy_change_id": change["id"], "weeks": weeks}, headers=boss.headers
        )
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["loc"] == ["query", "weeks"]
    assert_problem(client.get(effects, headers=boss.headers), 422)  # no change named
    for weeks in (1, 26):
        response = client.get(
            effects, params={"policy_change_id": change["id"], "weeks": weeks}, headers=boss.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["weeks"] == weeks


def test_trends_carry_the_changes_in_their_window(client: TestClient) -> None:
    boss = admin(client)
    advocate = make_user(client, boss, "advocate")
    kirkuk = make_checkpoint(client, boss, province="kirkuk")
    erbil = make_checkpoint(client, boss, province="erbil")

    def record(effective_at: str, *checkpoints: dict[str, Any]) -> dict[str, Any]:
        response = client.post(
            f"{API}/policy-changes",
            json=body([c["id"] for c in checkpoints], effective_at=effective_at),
            headers=boss.headers,
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    early = record("2026-10-15T08:00:00Z", kirkuk)
    inside = record("2026-11-20T08:00:00Z", kirkuk, erbil)
    in_erbil = record("2026-11-21T00:00:00Z", erbil)
    record("2026-12-01T00:00:00Z", kirkuk)  # the window's end is not in it

    def markers(**params: str) -> list[str]:
        response = client.get(
            f"{API}/reports/trends",
            params={"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", **params},
            headers=advocate.headers,
        )
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["policy_changes"]]

    assert markers() == [inside["id"], in_erbil["id"]]
    assert markers(checkpoint_id=kirkuk["id"]) == [inside["id"]]
    assert markers(province="erbil") == [inside["id"], in_erbil["id"]]
    assert markers(**{"from": "2026-10-01T00:00:00Z"})[0] == early["id"]
    one = client.get(
        f"{API}/reports/trends",
        params={"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"},
        headers=boss.headers,
    ).json()["policy_changes"]
    assert one == [
        {
            "id": inside["id"],
            "title": inside["title"],
            "effective_at": "2026-11-20T08:00:00Z",
            "checkpoint_ids": inside["checkpoint_ids"],
        }
    ]
    # No periods and an open side: no window to mark.
    empty = client.get(f"{API}/reports/trends", headers=boss.headers).json()
    assert empty["items"] == []
    assert empty["policy_changes"] == []
