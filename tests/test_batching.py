"""app.batching.Batcher: concurrent requests handled together on one thread, each caller
answered with its own outcome."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.batching import Batcher


def _run(coroutine):  # type: ignore[no-untyped-def]
    # On a thread of its own: in the whole suite the browser tests' Playwright (sync API)
    # keeps an event loop running on the main thread, where asyncio.run() refuses to start.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_concurrent_items_share_a_batch_and_each_gets_its_own_outcome() -> None:
    batches: list[list[int]] = []
    threads: set[str] = set()

    def handle(items: list[int]) -> list[int | BaseException]:
        batches.append(items)
        threads.add(threading.current_thread().name)
        return [ValueError(n) if n % 5 == 0 else n * 10 for n in items]

    async def main() -> list[object]:
        batcher: Batcher[int, int] = Batcher(handle, thread_name="test-batcher", max_items=100)
        try:
            return await asyncio.gather(
                *(batcher.submit(n) for n in range(1, 21)), return_exceptions=True
            )
        finally:
            batcher.close()

    outcomes = _run(main())

    for n, outcome in zip(range(1, 21), outcomes, strict=True):
        if n % 5 == 0:
            assert isinstance(outcome, ValueError)
        else:
            assert outcome == n * 10
    assert sorted(n for batch in batches for n in batch) == list(range(1, 21))
    assert len(batches) < 20  # they really were handled together
    assert len(threads) == 1
    assert threads.pop().startswith("test-batcher")


def test_a_batch_holds_at_most_max_items_and_max_weight_but_always_one() -> None:
    batches: list[list[int]] = []

    def handle(items: list[int]) -> list[int | BaseException]:
        batches.append(items)
        return list(items)

    async def main() -> None:
        batcher: Batcher[int, int] = Batcher(
            handle, thread_name="t", max_items=3, max_weight=10, weight=lambda n: n
        )
        await asyncio.gather(*(batcher.submit(n) for n in (1, 1, 1, 1, 4, 4, 4, 50, 1)))
        batcher.close()

    _run(main())
    assert batches[0] == [1, 1, 1]  # max_items
    assert batches[1] == [1, 4, 4]  # weight 9; the next 4 would pass 10
    assert batches[2] == [4]
    assert batches[3] == [50]  # heavier than max_weight alone: taken all the same
    assert batches[4] == [1]


def test_an_error_of_the_whole_batch_reaches_every_caller() -> None:
    def handle(items: list[int]) -> list[int | BaseException]:
        raise ConnectionError("the database went away")

    async def main() -> list[object]:
        batcher: Batcher[int, int] = Batcher(handle, thread_name="t", max_items=10)
        outcomes = await asyncio.gather(
            *(batcher.submit(n) for n in range(3)), return_exceptions=True
        )
        batcher.close()
        return outcomes

    assert all(isinstance(o, ConnectionError) for o in _run(main()))


@pytest.mark.parametrize("linger", [0.0, 0.05])
def test_lingering_gathers_items_that_arrive_one_at_a_time(linger: float) -> None:
    batches: list[list[int]] = []

    def handle(items: list[int]) -> list[int | BaseException]:
        batches.append(items)
        return list(items)

    async def main() -> None:
        batcher: Batcher[int, int] = Batcher(
            handle, thread_name="t", max_items=10, linger=linger, linger_below=5
        )

        async def later(n: int) -> int:
            await asyncio.sleep(0.005 * n)
            return await batcher.submit(n)

        await asyncio.gather(*(later(n) for n in range(4)))
        batcher.close()

    _run(main())
    if linger:
        assert batches == [[0, 1, 2, 3]]
    else:
        assert len(batches) > 1
