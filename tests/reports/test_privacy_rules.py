"""The protected-cell rules of app/privacy.py, once, without a database: every report,
export and the live status decide through them (the attacks are in test_differencing.py)."""

import uuid

import pytest

from app.auth.models import Role
from app.auth.principal import Principal
from app.privacy import StopCells, Tally, Thresholds, is_protected, live_is_exact

RULE = Thresholds(min_exporters=3, min_stops=10)
CELL = ("checkpoint", 20_000)


def stops(n: int, *exporters: str, completed: int | None = None) -> Tally:
    return Tally(n, n if completed is None else completed, set(exporters))


def cells(atoms: dict[tuple[str | None, str | None], Tally], *asked: tuple[str, str]) -> StopCells:
    return StopCells({CELL: atoms}, RULE, frozenset(asked))


def test_a_cell_needs_enough_exporters_and_completed_stops() -> None:
    assert cells({(None, None): stops(10, "a", "b", "c")}).allows(CELL)
    assert not cells({(None, None): stops(30, "a", "b")}).allows(CELL)
    assert not cells({(None, None): stops(12, "a", "b", "c", completed=9)}).allows(CELL)
    assert not cells({}).allows(CELL)


def test_a_filtered_cell_needs_its_complement_to_pass_or_be_empty() -> None:
    both_pass = {("25", None): stops(10, "a", "b", "c"), ("72", None): stops(10, "d", "e", "f")}
    assert cells(both_pass, ("hs", "25")).allows(CELL)
    one_truck_left = {("25", None): stops(19, "a", "b", "c"), ("68", None): stops(1, "d")}
    assert not cells(one_truck_left, ("hs", "25")).allows(CELL)
    assert not cells(one_truck_left, ("hs", "68")).allows(CELL)
    assert cells(one_truck_left).allows(CELL), "the whole cell still counts"
    all_cement = {("25", None): stops(20, "a", "b", "c")}
    assert cells(all_cement, ("hs", "25")).allows(CELL), "an empty complement reveals nothing"


def test_published_values_never_leave_a_small_remainder() -> None:
    """Baghdad and Basra each pass with a passing complement, but together they would leave
    Mosul's two trucks as the whole cell minus both: one of them is withheld too."""
    atoms = {
        (None, "baghdad"): stops(12, "a", "b", "c", "d"),
        (None, "basra"): stops(12, "e", "f", "g", "h"),
        (None, "nineveh"): stops(2, "i"),
    }
    published = cells(atoms).published_values(CELL, "to")
    assert published == {"basra"}  # the smaller (a tie: by name) is withheld with Mosul's
    assert cells(atoms, ("to", "basra")).allows(CELL)
    assert not cells(atoms, ("to", "baghdad")).allows(CELL)


def test_a_stop_carrying_several_chapters_counts_in_each() -> None:
    atoms = {("25,72", None): stops(10, "a", "b", "c"), ("72", None): stops(10, "d", "e", "f")}
    assert cells(atoms).published_values(CELL, "hs") == {"25", "72"}
    # 25 and 72 crossed: the stops carrying both, against those carrying 72 alone (10).
    assert cells(atoms, ("hs", "25"), ("hs", "72")).allows(CELL)


def test_two_filters_at_once_leave_no_small_remainder_in_either() -> None:
    atoms = {
        ("25", "baghdad"): stops(10, "a", "b", "c"),
        ("25", "basra"): stops(10, "d", "e", "f"),
        ("72", "baghdad"): stops(10, "g", "h", "i"),
        ("72", "basra"): stops(3, "j"),
    }
    assert cells(atoms, ("hs", "25"), ("to", "baghdad")).allows(CELL)
    # 72 to Basra fails itself; 72 to Baghdad would leave it behind within 72.
    assert not cells(atoms, ("hs", "72"), ("to", "basra")).allows(CELL)
    assert not cells(atoms, ("hs", "72"), ("to", "baghdad")).allows(CELL)


def test_excluded_stops_counts_what_the_answer_left_out() -> None:
    answer = StopCells(
        {
            ("p", 1): {(None, None): stops(20, "a", "b", "c")},
            ("p", 2): {(None, None): stops(4, "a", "b")},
        },
        RULE,
        frozenset(),
    )
    assert answer.excluded_stops(lambda atom: [frozenset()]) == 4


@pytest.mark.parametrize(
    ("role", "protected", "exact_live"),
    [(Role.advocate, True, False), (Role.admin, False, True), (Role.exporter, False, False)],
)
def test_who_is_protected(role: Role, protected: bool, exact_live: bool) -> None:
    principal = Principal("user", role, uuid.uuid4(), None)
    assert is_protected(principal) is protected
    assert live_is_exact(principal) is exact_live
