"""An attempt made from a thread that already runs an event loop (a caller of
`Dispatcher.deliver_now` inside one, as a test after a browser test can be) still works:
the attempt's own loop runs beside it."""

import asyncio
import threading

from app.webhooks.sending import Attempt, Sender
from tests.webhooks.receiver import Receiver, running


def test_an_attempt_from_inside_a_running_event_loop() -> None:
    sender = Sender(timeout=5, max_response_bytes=65536, allow_private=True)
    attempts: list[Attempt] = []
    with running(Receiver("whsec_" + "A" * 32)) as receiver:

        async def inside() -> None:
            attempts.append(sender.post(receiver.url, {}, "{}"))

        # A thread of its own, whose event loop is this test's: the main thread's may
        # already be taken by an earlier test in the same process (a browser test's).
        thread = threading.Thread(target=asyncio.run, args=(inside(),))
        thread.start()
        thread.join(timeout=30)
    # Unsigned, so the receiver refuses it: but it was made, and answered.
    [attempt] = attempts
    assert attempt.status_code == 401
