"""Webhook dedupe that survives a restart: the keys of received events, in SQLite or PostgreSQL.

Zalo and Messenger resend an event they think was not received; after a restart of the Rasa
server the in-memory set was empty and the citizen got a second answer. :class:`SeenEvents`
keeps the keys in ``var/webhook-dedupe.sqlite3`` (``DVC_DEDUPE_DB``; ``:memory:`` = memory only)
with their time, and forgets keys older than ``DVC_DEDUPE_DAYS`` (default 7): at start-up and
in the daily retention job (``scripts/retention.py``). Same interface as ``delivery.LRUSet``.
With ``DVC_DEDUPE_DB`` set to a ``postgresql://`` URL (the scaled topology) the keys are in the
table ``webhook_seen`` shared by every replica: an event the platform resends to another replica
is recognised there too.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Hashable
from typing import Any
from pathlib import Path

from bot.channels.delivery import LRUSet
from core.settings import env_float, env_raw

logger = logging.getLogger(__name__)

DEFAULT_PATH = "var/webhook-dedupe.sqlite3"
DEFAULT_DAYS = 7.0


def dedupe_path() -> str:
    return env_raw("DVC_DEDUPE_DB") or DEFAULT_PATH


def dedupe_days() -> float:
    try:
        return env_float("DVC_DEDUPE_DAYS", DEFAULT_DAYS)
    except ValueError:
        return DEFAULT_DAYS


# The statements on each backend (PostgreSQL: a table shared with the other stores, hence the name).
SQL = {
    "sqlite": {
        "has": "SELECT 1 FROM seen WHERE key = ?",
        "add": "INSERT OR IGNORE INTO seen (key, ts) VALUES (?, ?)",
        "forget": "DELETE FROM seen WHERE key = ?",
    },
    "postgres": {
        "has": "SELECT 1 FROM webhook_seen WHERE key = %s",
        "add": "INSERT INTO webhook_seen (key, ts) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
        "forget": "DELETE FROM webhook_seen WHERE key = %s",
    },
}


class SeenEvents:
    """A bounded in-memory set in front of a table of keys (SQLite ``seen`` or PostgreSQL ``webhook_seen``)."""

    def __init__(self, scope: str, capacity: int, path: str | None = None) -> None:
        self.scope = scope
        self.memory = LRUSet(capacity)
        self._lock = threading.Lock()
        self._db: Any = None
        self._sql = SQL["sqlite"]
        path = dedupe_path() if path is None else path
        if path.startswith(("postgresql://", "postgres://")):
            self._open_postgres(path)
        elif path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA busy_timeout=2000")
                db.execute("CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, ts REAL NOT NULL)")
                db.execute("CREATE INDEX IF NOT EXISTS seen_ts ON seen (ts)")
                db.execute("DELETE FROM seen WHERE ts < ?", (time.time() - dedupe_days() * 86400,))
                self._db = db
            except (sqlite3.Error, OSError):
                logger.exception("Webhook dedupe: cannot open %s; keys are kept in memory only.", path)

    def _open_postgres(self, url: str) -> None:
        try:
            import psycopg

            db = psycopg.connect(url, autocommit=True, connect_timeout=5)
            db.execute("CREATE TABLE IF NOT EXISTS webhook_seen (key TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS webhook_seen_ts ON webhook_seen (ts)")
            db.execute("DELETE FROM webhook_seen WHERE ts < %s", (time.time() - dedupe_days() * 86400,))
            self._db, self._sql = db, SQL["postgres"]
        except Exception:
            logger.exception("Webhook dedupe: cannot use PostgreSQL; keys are kept in memory only.")

    def _key(self, key: Hashable) -> str:
        return f"{self.scope}:{key}"

    def __len__(self) -> int:
        return len(self.memory)

    def __contains__(self, key: Hashable) -> bool:
        if key in self.memory:
            return True
        if self._db is None:
            return False
        try:
            with self._lock:
                row = self._db.execute(self._sql["has"], (self._key(key),)).fetchone()
        except Exception:
            logger.exception("Webhook dedupe: database error; relying on memory.")
            return False
        return row is not None

    def seen(self, key: Hashable) -> bool:
        """True if ``key`` was seen before (also before a restart); otherwise records it."""
        if self.memory.seen(key):
            return True
        if self._db is None:
            return False
        try:
            with self._lock:
                cursor = self._db.execute(self._sql["add"], (self._key(key), time.time()))
            return cursor.rowcount == 0
        except Exception:
            logger.exception("Webhook dedupe: database error; relying on memory.")
            return False

    def discard(self, key: Hashable) -> None:
        self.memory.discard(key)
        if self._db is not None:
            try:
                with self._lock:
                    self._db.execute(self._sql["forget"], (self._key(key),))
            except Exception:
                logger.exception("Webhook dedupe: database error while forgetting a key.")
