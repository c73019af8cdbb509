"""Replies to Zalo and Messenger that are never dropped: a durable outbox with retry and backoff.

Every reply is stored (``deliveries`` in the handoff database, handoff/tables/deliveries.py) before it
is sent. It is sent at once when no older reply of that conversation is waiting, as before; the
outcome of that attempt decides the rest:

* ``sent`` (2xx; Zalo error 0): done, the stored text is cleared;
* ``retry`` (no answer, timeout, 5xx, 429): sent again by the background worker after 1, 2, 4 … s
  (at most ``max_delay``), up to ``max_attempts`` attempts in all, then marked failed;
* ``failed`` (4xx and other refusals): logged, kept, and listed in the agent console.

The worker (one per channel, started with the server, :meth:`Outbox.start`) also picks up rows a
killed or restarted process left pending: a row is sent by whoever holds its lease, so two replicas
never send the same row at once, and a sent row is never sent again. One duplicate remains
possible: a process killed after the platform accepted a reply and before it was marked sent; the
lease (``lease`` seconds) then expires and the reply goes out twice (at least once, never lost).

Settings: ``DVC_OUTBOX_URL`` (``off`` = send directly, no outbox; default: the handoff database,
``HANDOFF_DATABASE_URL``, so the console sees failures), ``DVC_OUTBOX_MAX_ATTEMPTS`` (10),
``DVC_OUTBOX_MAX_DELAY`` (300 s). When the database cannot be used a reply is sent directly, once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from core.settings import env_float, env_int, env_str

logger = logging.getLogger(__name__)

Outcome = Literal["sent", "retry", "failed"]


@dataclass(frozen=True)
class Attempt:
    """What one call to a platform's send API gave."""

    outcome: Outcome
    status: int = 0
    error: str = ""

    @classmethod
    def from_http(cls, status: int, error: str = "", accepted: bool = False) -> Attempt:
        """``accepted``: the platform took the message. Otherwise no answer (status 0), 429 and 5xx
        are worth retrying, anything else is a refusal."""
        if accepted:
            return cls("sent", status)
        if status == 0 or status == 429 or status >= 500:
            return cls("retry", status, error)
        return cls("failed", status, error)


SendOnce = Callable[[str, dict[str, Any], bool], Awaitable[Attempt]]


class Outbox:
    """The durable outbox of one channel; ``send_once`` makes one attempt (no retries of its own)."""

    def __init__(
        self,
        channel: str,
        send_once: SendOnce,
        store: Any,
        max_attempts: int = 10,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        lease: float = 60.0,
        poll: float = 1.0,
    ) -> None:
        self.channel = channel
        self.send_once = send_once
        self.store = store
        self.max_attempts = max(1, max_attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.lease = lease
        self.poll = poll
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    @classmethod
    def from_environment(cls, channel: str, send_once: SendOnce, timeout: float) -> Outbox | None:
        url = env_str("DVC_OUTBOX_URL", "")
        if url.lower() in ("off", "none", "0", "false"):
            return None
        from handoff.store import get_store

        return cls(
            channel,
            send_once,
            get_store(url or None),  # default: the handoff database, where the console sees the failures
            max_attempts=env_int("DVC_OUTBOX_MAX_ATTEMPTS", 10),
            max_delay=env_float("DVC_OUTBOX_MAX_DELAY", 300.0),
            lease=timeout + 30.0,
        )

    def delay(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: 1, 2, 4 … capped, with ±20% jitter.

        >>> box = Outbox("zalo", None, None, max_delay=300)
        >>> [round(box.delay(n) / (2 ** (n - 1)), 1) >= 0.8 for n in (1, 2, 3)]
        [True, True, True]
        >>> box.delay(30) <= 300 * 1.2
        True
        """
        return min(self.base_delay * 2 ** (attempts - 1), self.max_delay) * random.uniform(0.8, 1.2)

    # -- the store, off the event loop -------------------------------------- #

    async def _db(self, method: str, *args: Any) -> Any:
        return await asyncio.to_thread(getattr(self.store, method), *args)

    # -- sending ------------------------------------------------------------- #

    async def send(self, recipient: str, message: dict[str, Any], human_agent: bool) -> bool:
        """Stores the reply and sends it now if nothing of this conversation is waiting before it.
        True if it was sent or will be retried; False if the platform refused it."""
        body = json.dumps({"message": message, "human_agent": human_agent}, ensure_ascii=False)
        try:
            delivery_id, mine = await self._db("delivery_add", self.channel, recipient, body, self.lease)
        except Exception:
            logger.exception("%s outbox unavailable; sending once without it.", self.channel)
            return (await self.send_once(recipient, message, human_agent)).outcome == "sent"
        if not mine:
            logger.info("%s reply %d queued behind an older one of the same conversation.", self.channel, delivery_id)
            self.wake()
            return True
        return await self._attempt(delivery_id, recipient, message, human_agent, attempts=0)

    async def _attempt(
        self, delivery_id: int, recipient: str, message: dict[str, Any], human_agent: bool, attempts: int
    ) -> bool:
        try:
            result = await self.send_once(recipient, message, human_agent)
        except Exception as exc:
            logger.exception("%s send raised; will retry.", self.channel)
            result = Attempt("retry", 0, f"{type(exc).__name__}: {exc}")
        attempts += 1
        try:
            if result.outcome == "sent":
                await self._db("delivery_sent", delivery_id, result.status)
            elif result.outcome == "retry" and attempts < self.max_attempts:
                wait = self.delay(attempts)
                await self._db("delivery_retry", delivery_id, time.time() + wait, result.status, result.error)
                logger.warning(
                    "%s reply %d not delivered (HTTP %s, %s); attempt %d of %d in %.1f s.",
                    self.channel,
                    delivery_id,
                    result.status,
                    result.error or "no detail",
                    attempts + 1,
                    self.max_attempts,
                    wait,
                )
                self.wake()
            else:
                await self._db("delivery_failed", delivery_id, result.status, result.error)
                logger.error(
                    "%s reply %d failed for good after %d attempt(s): HTTP %s, %s (shown in the agent console).",
                    self.channel,
                    delivery_id,
                    attempts,
                    result.status,
                    result.error or "no detail",
                )
        except Exception:
            logger.exception("%s outbox: cannot record the outcome of reply %d.", self.channel, delivery_id)
        return result.outcome != "failed"

    async def run_due(self) -> int:
        """One round of the worker: sends every due row it can lease; returns how many it tried."""
        rows = await self._db("delivery_claim", self.channel, self.lease)
        for row in rows:
            stored = json.loads(row["body"])
            await self._attempt(
                int(row["id"]),
                row["recipient"],
                stored["message"],
                bool(stored.get("human_agent")),
                attempts=int(row["attempts"]),
            )
        return len(rows)

    # -- the worker ---------------------------------------------------------- #

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        """Starts the worker in the running loop (once)."""
        if self._task is not None and not self._task.done():
            return
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._worker())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _worker(self) -> None:
        logger.info("%s outbox worker started.", self.channel)
        assert self._wake is not None
        while True:
            try:
                tried = await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s outbox worker: round failed.", self.channel)
                tried = 0
            if tried:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll)
            except asyncio.TimeoutError:
                pass
