"""The mailbox: the events of each conversation, kept for the web chat widget and the REST outbox.

In memory per sender (the last ``memory_events``, least recently used senders dropped past
``max_senders``) and in SQLite (``history_events`` per sender, ``retention_days``), or in PostgreSQL
shared by every replica (bot/channels/shared_mailbox.py), with an ``epoch``
that changes when the store is wiped. :func:`long_poll` is the one long-poll loop both channels use:
it returns as soon as there are events after ``after``, the mailbox was reset, the caller's
``changed()`` says so, or ``wait`` seconds have passed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bot.channels.config import config_value

logger = logging.getLogger(__name__)

DEFAULT_DB_PATH = "var/webchat.sqlite3"
MAX_EVENTS_PER_POLL = 100


@dataclass
class MailboxConfig:
    """Where and how much a :class:`Mailbox` keeps; subclasses name their env variable and file."""

    ENV: ClassVar[str] = "WEBCHAT_DB"
    DEFAULT_PATH: ClassVar[str] = DEFAULT_DB_PATH

    db_path: str | None = DEFAULT_DB_PATH
    memory_events: int = 200
    history_events: int = 1000
    max_senders: int = 10_000
    retention_days: float = 30.0

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None = None) -> MailboxConfig:
        c = credentials or {}
        return cls(
            db_path=str(config_value(c, ["db_path"], cls.ENV, cls.DEFAULT_PATH)),
            memory_events=_positive_int(c.get("memory_events"), 200),
            history_events=_positive_int(c.get("history_events"), 1000),
            max_senders=_positive_int(c.get("max_senders"), 10_000),
            retention_days=float(_positive_int(c.get("retention_days"), 30)),
        )

    def open(self, mailbox_class: type[Mailbox] | None = None) -> Mailbox:
        """The mailbox: in PostgreSQL, shared by every replica, when ``db_path`` is a
        ``postgresql://`` URL (bot/channels/shared_mailbox.py); else in this SQLite file."""
        cls: type[Mailbox] = mailbox_class or Mailbox
        if str(self.db_path or "").startswith(("postgresql://", "postgres://")):
            from bot.channels.shared_mailbox import shared_class

            cls = shared_class(cls)
        return cls(
            self.db_path,
            memory_events=self.memory_events,
            history_events=self.history_events,
            max_senders=self.max_senders,
            retention_days=self.retention_days,
        )


def _positive_int(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


class _SenderBox:
    __slots__ = ("events", "last_id")

    def __init__(self, events: list[dict[str, Any]], last_id: int, size: int) -> None:
        self.events: deque[dict[str, Any]] = deque(events, maxlen=size)
        self.last_id = last_id


class Mailbox:
    """Ordered events per sender: bounded in memory (LRU), persisted in SQLite.

    All methods run on the event loop thread and never await between reading and
    writing a sender's state, so id assignment is atomic. SQLite problems are
    logged and the mailbox carries on in memory (a chat must not break because
    the disk is full).
    """

    # Name in log messages (the REST channel's outbox is a Mailbox too).
    label: ClassVar[str] = "Web chat"
    # Which mailbox this is, for its PostgreSQL counterpart ("webchat" or "rest").
    kind: ClassVar[str] = "webchat"

    def __init__(
        self,
        db_path: str | None = DEFAULT_DB_PATH,
        memory_events: int = 200,
        history_events: int = 1000,
        max_senders: int = 10_000,
        retention_days: float = 30.0,
    ) -> None:
        self.memory_events = memory_events
        self.history_events = max(history_events, memory_events)
        self.max_senders = max_senders
        self._boxes: OrderedDict[str, _SenderBox] = OrderedDict()
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._handled: set[tuple[str, str]] = set()
        self._db: sqlite3.Connection | None = None
        self.epoch = secrets.token_hex(8)
        if db_path and db_path != ":memory:":
            self._open(db_path, retention_days)

    # -- SQLite ---------------------------------------------------------------- #

    def _open(self, db_path: str, retention_days: float) -> None:
        try:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=2000")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS events ("
                " sender TEXT NOT NULL, id INTEGER NOT NULL, ts REAL NOT NULL,"
                " client_msg_id TEXT, data TEXT NOT NULL, PRIMARY KEY (sender, id))"
            )
            db.execute(
                "CREATE INDEX IF NOT EXISTS events_client_msg"
                " ON events (sender, client_msg_id) WHERE client_msg_id IS NOT NULL"
            )
            db.execute("CREATE INDEX IF NOT EXISTS events_ts ON events (ts)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS handled (sender TEXT NOT NULL, client_msg_id TEXT NOT NULL,"
                " ts REAL NOT NULL, PRIMARY KEY (sender, client_msg_id))"
            )
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)",
                (self.epoch,),
            )
            row = db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
            self.epoch = row[0]
            if retention_days > 0:
                cutoff = time.time() - retention_days * 86400
                db.execute("DELETE FROM handled WHERE ts < ?", (cutoff,))
                deleted = db.execute("DELETE FROM events WHERE ts < ?", (cutoff,))
                if deleted.rowcount:
                    logger.info("%s: deleted %d expired events.", self.label, deleted.rowcount)
            self._db = db
            logger.info("%s mailbox: %s", self.label, db_path)
        except (sqlite3.Error, OSError):
            logger.exception("%s: cannot open %s; history is kept in memory only.", self.label, db_path)
            self._db = None

    def _db_call(self, what: str, sql: str, args: tuple[Any, ...]) -> list[Any] | None:
        if self._db is None:
            return None
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error:
            logger.exception("%s: SQLite error while %s.", self.label, what)
            return None

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:  # pragma: no cover
                pass
            self._db = None

    @property
    def persistent(self) -> bool:
        return self._db is not None

    # -- memory ---------------------------------------------------------------- #

    def _box(self, sender: str) -> _SenderBox:
        box = self._boxes.get(sender)
        if box is not None:
            self._boxes.move_to_end(sender)
            return box
        rows = self._db_call(
            "loading a mailbox",
            "SELECT data FROM events WHERE sender = ? ORDER BY id DESC LIMIT ?",
            (sender, self.memory_events),
        )
        events = [json.loads(r[0]) for r in reversed(rows or [])]
        last = events[-1]["id"] if events else 0
        box = _SenderBox(events, last, self.memory_events)
        self._boxes[sender] = box
        while len(self._boxes) > self.max_senders:
            # Reloaded from SQLite when the sender comes back.
            self._boxes.popitem(last=False)
        return box

    def __len__(self) -> int:
        return len(self._boxes)

    # -- API ------------------------------------------------------------------- #

    def append(self, sender: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """Stores ``event`` with the sender's next id and wakes its pollers."""
        box = self._box(sender)
        stored = {k: v for k, v in event.items() if v not in (None, "", [])}
        stored["id"] = box.last_id + 1
        stored.setdefault("ts", round(time.time(), 3))
        box.last_id = stored["id"]
        box.events.append(stored)
        self._db_call(
            "storing an event",
            "INSERT OR REPLACE INTO events (sender, id, ts, client_msg_id, data) VALUES (?, ?, ?, ?, ?)",
            (sender, *self.columns(stored)),
        )
        if stored["id"] % 50 == 0:
            self._db_call(
                "trimming a mailbox",
                "DELETE FROM events WHERE sender = ? AND id <= ?",
                (sender, stored["id"] - self.history_events),
            )
        self.notify(sender)
        return stored

    @staticmethod
    def columns(stored: Mapping[str, Any]) -> tuple[Any, ...]:
        """An event's stored columns after the sender: id, ts, client_msg_id, the JSON."""
        return stored["id"], stored["ts"], stored.get("client_msg_id"), json.dumps(stored, ensure_ascii=False)

    def last_id(self, sender: str) -> int:
        return self._box(sender).last_id

    def events_after(self, sender: str, after: int, limit: int = MAX_EVENTS_PER_POLL) -> list[dict[str, Any]]:
        box = self._box(sender)
        if after >= box.last_id:
            return []
        if box.events and box.events[0]["id"] <= after + 1:
            return [e for e in box.events if e["id"] > after][:limit]
        rows = self._db_call(
            "reading events",
            "SELECT data FROM events WHERE sender = ? AND id > ? ORDER BY id LIMIT ?",
            (sender, after, limit),
        )
        if rows:
            return [json.loads(r[0]) for r in rows]
        # No database (or it failed): what memory still has.
        return [e for e in box.events if e["id"] > after][:limit]

    def last_event(self, sender: str) -> dict[str, Any] | None:
        """The sender's newest event (None: none yet)."""
        events = self._box(sender).events  # the newest ones are always in memory
        return events[-1] if events else None

    def find_client_msg(self, sender: str, client_msg_id: str) -> dict[str, Any] | None:
        """The citizen's message (its echo) sent with ``client_msg_id``, or None."""
        box = self._box(sender)
        for event in box.events:
            if event.get("client_msg_id") == client_msg_id:
                return event
        rows = self._db_call(
            "looking up a message",
            "SELECT data FROM events WHERE sender = ? AND client_msg_id = ? ORDER BY id LIMIT 1",
            (sender, client_msg_id),
        )
        return json.loads(rows[0][0]) if rows else None

    def mark_handled(self, sender: str, client_msg_id: str) -> None:
        """Records that the citizen's message ``client_msg_id`` went through the bot (answered or not)."""
        self._handled.add((sender, client_msg_id))
        while len(self._handled) > self.max_senders:
            self._handled.pop()
        self._db_call(
            "recording a handled message",
            "INSERT OR REPLACE INTO handled (sender, client_msg_id, ts) VALUES (?, ?, ?)",
            (sender, client_msg_id, time.time()),
        )

    def was_handled(self, sender: str, client_msg_id: str) -> bool:
        if (sender, client_msg_id) in self._handled:
            return True
        rows = self._db_call(
            "looking up a handled message",
            "SELECT 1 FROM handled WHERE sender = ? AND client_msg_id = ?",
            (sender, client_msg_id),
        )
        return bool(rows)

    def has_client_msg(self, sender: str, client_msg_id: str) -> bool:
        box = self._box(sender)
        if any(e.get("client_msg_id") == client_msg_id for e in box.events):
            return True
        rows = self._db_call(
            "looking up a message id",
            "SELECT 1 FROM events WHERE sender = ? AND client_msg_id = ? LIMIT 1",
            (sender, client_msg_id),
        )
        return bool(rows)

    def notify(self, sender: str) -> None:
        for waiter in self._waiters.pop(sender, set()):
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, sender: str, timeout: float) -> None:
        """Waits until :meth:`notify` is called for ``sender`` or ``timeout``."""
        if timeout <= 0:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(sender, set()).add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:  # not the builtin on Python 3.10
            pass
        finally:
            waiters = self._waiters.get(sender)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[sender]


class BadRequest(Exception):
    def __init__(self, error: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error = error
        self.message = message
        self.status = status


def poll_window(args: Mapping[str, Any], max_wait: float) -> tuple[int, float]:
    """``after`` (event id, default 0) and ``wait`` (seconds, default 0, capped at ``max_wait``)
    of a long-poll request; :class:`BadRequest` when they are not non-negative numbers."""
    try:
        after = int(args.get("after") or 0)
        wait = float(args.get("wait") or 0)
    except ValueError:
        raise BadRequest("invalid_field", "'after' must be an integer and 'wait' a number.") from None
    if after < 0 or not math.isfinite(wait) or wait < 0:
        raise BadRequest("invalid_field", "'after' and 'wait' must not be negative.")
    return after, min(wait, max_wait)


async def long_poll(
    mailbox: Mailbox, sender: str, after: int, wait: float, limit: int, changed: Callable[[], bool] | None = None
) -> list[dict[str, Any]]:
    """Up to ``limit`` events of ``sender`` after ``after``, waiting up to ``wait`` seconds for one.

    Returns at once (maybe with no events) when the mailbox's last id is below ``after`` (the store
    was reset) or ``changed()``, called on every round, is true.
    """
    deadline = time.monotonic() + wait
    while True:
        events = mailbox.events_after(sender, after, limit)
        moved = changed() if changed is not None else False
        remaining = deadline - time.monotonic()
        if events or remaining <= 0 or after > mailbox.last_id(sender) or moved:
            return events
        await mailbox.wait(sender, remaining)
