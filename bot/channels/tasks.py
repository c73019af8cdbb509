"""Background processing of webhook events: the webhook answers at once, the work goes on in tasks."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


logger = logging.getLogger(__name__)


class BackgroundTasks:
    """Runs webhook work after the HTTP response has been sent.

    Tasks with the same key (the user id) run one after the other, in the order
    they were submitted, so a user's messages are never processed out of order.
    Exceptions are logged and never propagate.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_by_key: dict[Hashable, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def submit(
        self,
        key: Hashable,
        work: Callable[[], Awaitable[Any]],
        description: str = "webhook event",
    ) -> "asyncio.Task[None]":
        previous = self._last_by_key.get(key)

        async def runner() -> None:
            if previous is not None and not previous.done():
                # ``asyncio.wait`` never raises the previous task's outcome.
                await asyncio.wait([previous])
            try:
                await work()
            except asyncio.CancelledError:
                logger.warning("Processing of %s was cancelled.", description)
                raise
            except Exception:
                logger.exception("Failed to process %s.", description)

        task = asyncio.get_running_loop().create_task(runner())
        self._tasks.add(task)
        self._last_by_key[key] = task

        def _done(finished: "asyncio.Task[None]") -> None:
            self._tasks.discard(finished)
            if self._last_by_key.get(key) is finished:
                del self._last_by_key[key]

        task.add_done_callback(_done)
        return task

    async def wait_idle(self, timeout: float | None = 10.0) -> None:
        """Waits until all submitted work has finished (used by tests/shutdown)."""

        async def _wait() -> None:
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

        await asyncio.wait_for(_wait(), timeout)
