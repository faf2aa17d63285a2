"""An attempt made from a thread that already runs an event loop (a caller of
`Dispatcher.deliver_now` inside one, as a test after a browser test can be) still works:
the attempt's own loop runs beside it."""

import asyncio

from app.webhooks.sending import Sender
from tests.webhooks.receiver import Receiver, running


def test_an_attempt_from_inside_a_running_event_loop() -> None:
    sender = Sender(timeout=5, max_response_bytes=65536, allow_private=True)
    with running(Receiver("whsec_" + "A" * 32)) as receiver:

        async def inside() -> object:
            return sender.post(receiver.url, {}, "{}")

        attempt = asyncio.run(inside())
    # Unsigned, so the receiver refuses it: but it was made, and answered.
    assert attempt.status_code == 401  # type: ignore[attr-defined]
