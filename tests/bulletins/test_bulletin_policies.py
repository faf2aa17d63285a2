"""The bulletin's policy section: a change that took effect in the month, with its measured
effect at each checkpoint as an advocate's GET /reports/effects gives it (4 weeks either
side), its title as text."""

from typing import Any

from app.bulletins import render
from app.bulletins.service import EFFECT_WEEKS
from tests.bulletins.test_bulletins import get, pdf_text
from tests.bulletins.world import World
from tests.factories import API

TITLE = "<b>Single inspection</b> at Kirkuk south & Baghdad"


def record_change(world: World) -> dict[str, Any]:
    response = world.client.post(
        f"{API}/policy-changes",
        json={
            "title": TITLE,
            "effective_at": "2026-11-01T00:00:00Z",
            "checkpoint_ids": [world.checkpoints["A"]],
            "description": "One joint inspection instead of three.",
        },
        headers=world.admin.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_months_policy_changes_and_their_effect(world: World) -> None:
    change = record_change(world)
    effects = world.client.get(
        f"{API}/reports/effects",
        params={"policy_change_id": change["id"], "weeks": str(EFFECT_WEEKS)},
        headers=world.advocate.headers,
    )
    assert effects.status_code == 200, effects.text
    (row,) = effects.json()["items"]
    assert row["insufficient_data"] is False
    change_text = render.signed(row["median_change_minutes"])
    low, high = (render.signed(v) for v in row["median_change_ci95"])

    page = get(world, format="html").text
    assert "&lt;b&gt;Single inspection&lt;/b&gt; at Kirkuk south &amp; Baghdad" in page
    assert "<b>Single inspection" not in page
    section = page[page.index('<section id="policies">') :]
    section = section[: section.index("</section>")]
    assert change_text in section
    assert f"{low} … {high}" in section

    text = pdf_text(get(world, lang="en").content)
    assert "Single inspection" in text
    assert change_text in text


def test_a_month_without_changes_says_so(world: World) -> None:
    page = get(world, "2026-10", format="html").text
    section = page[page.index('<section id="policies">') :]
    assert "<table" not in section[: section.index("</section>")]
