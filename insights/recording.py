"""Record what the bot decided, for the insights report, without ever slowing or breaking a reply.

Every ``{"dvc": ...}`` decision payload the action server sends becomes one row of the handoff
store's ``interactions`` table (:meth:`handoff.store.Store.record_interaction`, which masks the
question and hashes the sender id):

* ``answer`` -> ``answered`` (outcome ``chosen`` when the citizen picked the guide from a
  clarification);
* ``clarify`` -> ``clarified``;
* ``abstain`` -> ``out_of_scope`` when its reason is ``out_of_scope``, else ``abstained`` (reason
  ``low_confidence``, ``uncovered:<id>``, ``handoff:<id>``, ``search_unavailable``, ``unknown_topic``);
* ``offer_handoff`` -> ``offered_handoff`` (reason ``repeated_abstain``, ``policy:<id>``);
* ``handoff`` -> ``handoff`` (outcome ``queued``, ``offline:closed_hours``, ``offline:no_agent``,
  ``unavailable``; reason ``citizen_request``, ``repeated_abstain``, ``policy:<id>``);
* ``feedback`` -> ``feedback`` (outcome ``helpful`` / ``not_helpful``, the guide).

:func:`record_decision` only puts the row on a bounded in-memory queue and returns; one daemon
thread writes the rows, in order, to ``HANDOFF_DATABASE_URL``. A database that is down, slow or
misconfigured, or a full queue: the row is dropped and a warning logged; the citizen's reply is
never affected. ``DVC_RECORD_INTERACTIONS=0`` switches recording off.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from typing import Any

from core.settings import env_flag, timezone_name

log = logging.getLogger(__name__)

ENV_SWITCH = "DVC_RECORD_INTERACTIONS"
QUEUE_SIZE = 10_000


def enabled() -> bool:
    """False when ``DVC_RECORD_INTERACTIONS`` is 0 / false / no / off (read on every call)."""
    return env_flag(ENV_SWITCH, True)


def classify(meta: dict) -> tuple[str, str | None, str | None] | None:
    """(kind, outcome, reason) for a ``{"dvc": ...}`` payload; None for one that is not a decision.

    >>> classify({"decision": "abstain", "reason": "uncovered:uncovered_land"})
    ('abstained', None, 'uncovered:uncovered_land')
    >>> classify({"decision": "feedback", "helpful": False})
    ('feedback', 'not_helpful', None)
    """
    decision = meta.get("decision")
    reason = meta.get("reason") or None
    if decision == "answer":
        return "answered", None, None
    if decision == "clarify":
        return "clarified", None, None
    if decision == "abstain":
        return ("out_of_scope" if reason == "out_of_scope" else "abstained"), None, reason
    if decision == "offer_handoff":
        return "offered_handoff", None, reason
    if decision == "handoff":
        return "handoff", meta.get("handoff") or None, reason
    if decision == "feedback":
        return "feedback", "helpful" if meta.get("helpful") else "not_helpful", None
    return None


def ranking(meta: dict | None) -> list[dict]:
    """The top 3 ``[{id, score}]`` of a decision payload (empty when it has none)."""
    found = []
    for item in (meta or {}).get("ranking") or []:
        if isinstance(item, dict) and item.get("id"):
            found.append({"id": item["id"], "score": item.get("score")})
    return found[:3]


def _database_url() -> str:
    from handoff.config import database_url  # not load_config(): a bad HANDOFF_HOURS must not stop recording

    return database_url()


class _Writer:
    """One daemon thread that writes queued rows to the store of each row's database URL."""

    def __init__(self, size: int = QUEUE_SIZE) -> None:
        self.queue: queue.Queue[tuple[str, dict]] = queue.Queue(maxsize=size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0
        self.failed = 0

    def put(self, url: str, row: dict) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="insights-recorder", daemon=True)
                    self._thread.start()
                    atexit.register(self.flush, 2.0)
        try:
            self.queue.put_nowait((url, row))
        except queue.Full:
            self.dropped += 1
            if self.dropped % 100 == 1:
                log.warning("interaction recording queue full: %d rows dropped so far", self.dropped)

    def _run(self) -> None:
        from handoff.store import get_store

        while True:
            url, row = self.queue.get()
            try:
                get_store(url).record_interaction(**row)
            except Exception as exc:  # noqa: BLE001 - never let recording take anything down
                self.failed += 1
                log.warning(
                    "could not record a %s interaction (%s failures so far): %s", row.get("kind"), self.failed, exc
                )
            finally:
                self.queue.task_done()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued row was written (or failed); False on timeout."""
        deadline = time.monotonic() + timeout
        with self.queue.all_tasks_done:
            while self.queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.queue.all_tasks_done.wait(remaining)
        return True


_writer = _Writer()


def flush(timeout: float = 10.0) -> bool:
    """Wait for the background writer (tests, shutdown). True when nothing is pending."""
    return _writer.flush(timeout)


def record_decision(
    meta: dict,
    *,
    sender_id: str,
    channel: str | None,
    question: str | None,
    intent: str | None = None,
    outcome: str | None = None,
    guesses: list[dict] | None = None,
    now: float | None = None,
) -> bool:
    """Queue one interaction row for the decision payload ``meta``. Never raises, never blocks.

    Args:
        meta: The ``{"dvc": ...}`` payload the bot sent.
        sender_id: Rasa's sender id (stored only as a salted hash).
        channel: The input channel (rest, webchat, zalo, messenger...).
        question: What the citizen asked (masked by the store before it is written).
        intent: The NLU intent of the latest message.
        outcome: Overrides the outcome derived from ``meta`` (handoff status, ``chosen``).
        guesses: Top guides ``[{id, score}]`` when ``meta`` has no ranking of its own.
        now: Time of the decision (default: now).

    Returns:
        True when a row was queued.
    """
    try:
        if not enabled() or not isinstance(meta, dict):
            return False
        classified = classify(meta)
        if classified is None:
            return False
        kind, derived_outcome, reason = classified
        guide_ids = meta.get("guide_ids") or []
        guide_id = guide_ids[0] if kind in ("answered", "feedback") and guide_ids else None
        row: dict[str, Any] = {
            "kind": kind,
            "sender_id": str(sender_id),
            "channel": channel,
            "question": question or "",
            "outcome": outcome or derived_outcome,
            "reason": reason,
            "guide_id": guide_id,
            "guesses": ranking(meta) or ranking({"ranking": guesses or []}),
            "intent": intent,
            "now": time.time() if now is None else now,
            "tz": timezone_name(),
        }
        _writer.put(_database_url(), row)
        return True
    except Exception:  # recording must never break a reply
        log.exception("could not queue an interaction for recording")
        return False
