"""Work done for many concurrent requests at once, on one thread of its own.

Requests that arrive while a batch is being handled wait together; the next call of
`handle` takes all of them (up to `max_items`, and `max_weight` by `weight`, though always
at least one). Each request awaits only its own outcome. The event loop keeps parsing
requests while the thread works, and the batch grows with the load instead of the queue
of threads. Used by the event writer (tracking/writer.py: one transaction, one commit for
a batch) and by the credential check in front of it (auth/credentials.py: one read).
"""

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class Batcher(Generic[In, Out]):
    def __init__(
        self,
        handle: Callable[[list[In]], Sequence[Out | BaseException]],
        *,
        thread_name: str,
        max_items: int,
        max_weight: int | None = None,
        weight: Callable[[In], int] = lambda _: 1,
        linger: float = 0.0,
        linger_below: int = 0,
    ) -> None:
        """`handle` runs on the thread and returns one outcome per item, in order: a value,
        or the exception to raise in that item's caller. With `linger`, fewer than
        `linger_below` waiting items wait that many seconds for company first: requests
        that arrive one at a time then still share one hand-over to the thread."""
        self._handle = handle
        self._thread_name = thread_name
        self._max_items = max_items
        self._max_weight = max_weight
        self._weight = weight
        self._linger = linger
        self._linger_below = linger_below
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: In) -> Out:
        answer: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, answer))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await answer

    def close(self) -> None:
        """At shutdown: lets the batch in progress finish (its callers get their answers)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._thread_name)
        while self._waiting:
            if self._linger and len(self._waiting) < self._linger_below:
                await asyncio.sleep(self._linger)
            batch = self._take()
            items = [item for item, _ in batch]
            try:
                outcomes = await loop.run_in_executor(self._executor, self._handle_safely, items)
            except asyncio.CancelledError as exc:  # shutting down: nobody may wait forever
                self._answer(batch, [exc] * len(batch))
                raise
            self._answer(batch, outcomes)

    def _take(self) -> list[tuple[In, "asyncio.Future[Out]"]]:
        count, total = 0, 0
        for item, _ in self._waiting:
            total += self._weight(item)
            if count and (
                count >= self._max_items or (self._max_weight and total > self._max_weight)
            ):
                break
            count += 1
        batch = self._waiting[:count]
        del self._waiting[:count]
        return batch

    def _handle_safely(self, items: list[In]) -> Sequence[Out | BaseException]:
        try:
            return self._handle(items)
        except Exception as exc:  # the database went away, say: every caller gets the error
            return [exc] * len(items)

    @staticmethod
    def _answer(
        batch: list[tuple[In, "asyncio.Future[Out]"]], outcomes: Sequence[Out | BaseException]
    ) -> None:
        for (_, answer), outcome in zip(batch, outcomes, strict=True):
            if answer.done():  # the client went away
                continue
            if isinstance(outcome, BaseException):
                answer.set_exception(outcome)
            else:
                answer.set_result(outcome)
