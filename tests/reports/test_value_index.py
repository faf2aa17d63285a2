"""value_index: exact order statistics of unions of sorted arrays from their samples and the
slices they name, against the same statistics of every value (rollups.order_statistics)."""

import random
import uuid

import numpy as np
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.reports import value_index
from app.reports.models import MonthCell
from app.reports.rollups import _array_literal, order_statistics, value_groups_statistics
from app.reports.value_index import FLOAT64, Group, Run, index_of, statistics
from tests.conftest import PG_URL


class Store:
    """Sorted arrays by key, and what was read of them."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.read = 0

    def add(self, key: str, values: np.ndarray) -> Run:
        values = np.sort(values.astype(FLOAT64))
        self.arrays[key] = values
        return Run.of(key, len(values), index_of(values.tobytes()))

    def fetch(self, wanted: dict, /) -> dict:
        found = {}
        for key, spans in wanted.items():
            for first, end in spans:
                assert 0 <= first < end <= len(self.arrays[key])
                found[(key, first, end)] = self.arrays[key][first:end]
                self.read += end - first
        return found


def expected(arrays: list[np.ndarray], standard: float) -> tuple:
    values = np.concatenate(arrays) if arrays else np.array([], FLOAT64)
    return (int(np.count_nonzero(values <= standard)), *order_statistics(values))


def draw(rng: random.Random, n: int) -> np.ndarray:
    """Heavy-tailed minutes with many ties (whole and half minutes), or continuous ones."""
    if rng.random() < 0.5:
        return np.round(np.random.default_rng(rng.randrange(2**32)).lognormal(3, 1.2, n) * 2) / 2
    return np.random.default_rng(rng.randrange(2**32)).lognormal(3, 1.2, n)


@pytest.mark.parametrize("seed", range(40))
def test_random_groups_match_every_value(seed: int) -> None:
    rng = random.Random(seed)
    store = Store()
    groups, truth = {}, {}
    for group in range(rng.randint(1, 5)):
        runs, loose, arrays = [], [], []
        for run in range(rng.randint(1, 12)):
            values = draw(rng, rng.choice([0, 1, 2, 63, 64, 65, 200, rng.randint(0, 5000)]))
            if rng.random() < 0.3:  # a cell computed from the stops, or a small one
                loose.append(values)
            else:
                runs.append(store.add(f"{group}/{run}", values))
            arrays.append(values)
        groups[group] = Group(runs, np.concatenate(loose) if loose else np.zeros(0))
        truth[group] = arrays
    standard = rng.choice([0.0, 20.0, 45.5, 120.0, 1e9])
    found = statistics(groups, standard, store.fetch)
    for group, arrays in truth.items():
        within, p50, p90, tail = expected(arrays, standard)
        got = found[group]
        assert got.within == within
        assert got.p50 == p50  # the very values at the ranks: no rounding
        assert got.p90 == p90
        assert got.tail_mean == pytest.approx(tail, rel=1e-12) if tail is not None else True
        assert (got.tail_mean is None) == (tail is None)


def test_only_slices_are_read() -> None:
    """Twenty month-sized runs: a tenth of their values is more than enough."""
    rng = random.Random(7)
    store = Store()
    runs = [store.add(str(i), draw(rng, 12_000)) for i in range(20)]
    arrays = list(store.arrays.values())
    found = statistics({"all": Group(runs, np.zeros(0))}, 45.0, store.fetch)["all"]
    within, p50, p90, tail = expected(arrays, 45.0)
    assert (found.within, found.p50, found.p90) == (within, p50, p90)
    assert found.tail_mean == pytest.approx(tail, rel=1e-12)
    assert store.read < 0.1 * 240_000, store.read


def test_all_equal_values_and_a_single_value() -> None:
    store = Store()
    same = store.add("same", np.full(1_000, 30.0))
    one = store.add("one", np.array([5.0]))
    found = statistics(
        {"same": Group([same], np.zeros(0)), "one": Group([one], np.zeros(0))}, 30.0, store.fetch
    )
    assert (found["same"].p50, found["same"].p90, found["same"].tail_mean) == (30.0, 30.0, 30.0)
    assert found["same"].within == 1_000
    assert (found["one"].p50, found["one"].within) == (5.0, 1)


def test_an_empty_group() -> None:
    found = statistics({"none": Group([], np.zeros(0))}, 45.0, Store().fetch)["none"]
    assert (found.within, found.p50, found.p90, found.tail_mean) == (0, None, None, None)


def test_the_index_layout() -> None:
    values = np.arange(130, dtype=FLOAT64)
    packed = np.frombuffer(index_of(values.tobytes()), FLOAT64)
    samples = value_index.STRIDE and len(range(0, 130, value_index.STRIDE))
    assert list(packed[:samples]) == [0.0, 64.0, 128.0]
    assert list(packed[samples:]) == [0.0, sum(range(64)), sum(range(128)), sum(range(130))]
    assert np.frombuffer(index_of(b""), FLOAT64).tolist() == [0.0]


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL's array parser (TEST_POSTGRES_URL unset)")
def test_array_literals_read_back_as_the_items_they_were_made_of() -> None:
    """The slices wanted go to PostgreSQL as array text (rollups._array_literal): what the
    server parses is every item as it was, whatever quotes or backslashes a string holds."""
    items = {
        "text": ["07,08", "", 'a"b', "back\\slash", "NULL", "{braces}", "Ω"],
        "int": [0, -3, 2_147_483_647],
        "uuid": [uuid.UUID(int=0), uuid.uuid4()],
    }
    engine = create_engine(PG_URL)  # type: ignore[arg-type]
    try:
        with engine.connect() as connection:
            for cast, values in items.items():
                read = connection.exec_driver_sql(
                    f"SELECT %s::text::{cast}[]", (_array_literal(values),)
                ).scalar_one()
                assert read == values, cast
    finally:
        engine.dispose()


def test_a_cell_missing_from_its_table_is_named(engine: Engine) -> None:
    """A run whose stored row is gone (a refresh between the index read and the slices' read
    cannot do this, but a damaged table could) fails by naming its cell, not a bare number."""
    values = np.sort(np.random.default_rng(3).lognormal(3, 1, 5_000)).astype(FLOAT64)
    checkpoint = uuid.UUID(int=7)
    key = (MonthCell, (checkpoint, 20_454))
    group = Group([Run.of(key, len(values), index_of(values.tobytes()))], np.zeros(0))
    with Session(engine) as session, pytest.raises(LookupError) as raised:
        value_groups_statistics(session, {"all": group}, 45.0)
    assert "MonthCell" in str(raised.value)
    assert str(checkpoint) in str(raised.value)
