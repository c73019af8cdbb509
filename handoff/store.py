"""The handoff store: handoffs, their messages, agents, sessions, callback requests, audit log, and
the ``interactions`` the bot decided (answered, clarified, abstained, handed off, feedback) for
``python -m insights.report`` (docs/insights.md).

One schema, two backends:

* SQLite (default): ``sqlite:///var/handoff.sqlite3`` (relative to the project) or
  ``sqlite:////abs/path``; WAL journal, created on first use.
* PostgreSQL: ``postgresql://user@host:5432/db`` (psycopg 3). ``?options=-csearch_path%3Dname`` selects
  a schema.

Nothing is opened at import or construction: the first method call connects (one connection per
thread) and creates the tables if needed. Every state change that two agents could race for is one
conditional ``UPDATE ... WHERE status = ...``, so exactly one of them wins.

Statuses: ``queued`` (waiting for an agent) -> ``claimed`` (an agent answers) -> ``closed`` (done)
or ``returned`` (handed back to the bot); ``offline`` (no agent was available: the citizen got the
hotline number and may have left a callback request).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from handoff.privacy import mask_pii, redact_secrets

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_VERSION = 1
STATUSES = ("queued", "claimed", "closed", "returned", "offline")
OPEN_STATUSES = ("queued", "claimed")
ROLES = ("user", "bot", "agent", "system")
MAX_TEXT = 4000
# What the bot decided, one row per {"dvc": ...} decision it sent (insights/recording.py).
INTERACTION_KINDS = ("answered", "clarified", "abstained", "out_of_scope", "offered_handoff", "handoff", "feedback")
MAX_QUESTION = 1000
# Beyond mask_pii (12-digit IDs, phone numbers): any other run of 9+ digits (old 9-digit CMND, social
# insurance, tax or account numbers) and e-mail addresses; nobody needs them to decide what to write.
_LONG_NUMBER = re.compile(r"(?<![\d*])\d(?:[ .-]?\d){8,}(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def mask_interaction_text(text: str) -> str:
    """``mask_pii`` plus long numbers and e-mail addresses, for the interactions table.

    >>> mask_interaction_text("cmnd 123456789, sđt 0912345678, mail a.b@x.vn")
    'cmnd ******789, sđt *******678, mail [email]'
    """
    text = mask_pii(text)
    text = _LONG_NUMBER.sub(lambda m: "*" * (sum(c.isdigit() for c in m.group(0)) - 3) + m.group(0)[-3:], text)
    return _EMAIL.sub("[email]", text)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS handoff_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agents (
    id {pk},
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    last_seen DOUBLE PRECISION,
    disabled INTEGER NOT NULL DEFAULT 0,
    role TEXT NOT NULL DEFAULT 'agent'
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    agent_id BIGINT NOT NULL REFERENCES agents(id),
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    ip TEXT
);
CREATE TABLE IF NOT EXISTS handoffs (
    id TEXT PRIMARY KEY,
    sender_id TEXT NOT NULL,
    channel TEXT,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    understanding TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    claimed_by BIGINT REFERENCES agents(id),
    claimed_at DOUBLE PRECISION,
    closed_at DOUBLE PRECISION,
    synced_until DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS handoffs_one_open_per_sender ON handoffs (sender_id)
    WHERE status IN ('queued', 'claimed');
CREATE INDEX IF NOT EXISTS handoffs_by_status ON handoffs (status, created_at);
CREATE TABLE IF NOT EXISTS messages (
    id {pk},
    handoff_id TEXT NOT NULL REFERENCES handoffs(id),
    ts DOUBLE PRECISION NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    agent_id BIGINT REFERENCES agents(id),
    source_key TEXT,
    delivery TEXT,
    UNIQUE (handoff_id, source_key)
);
CREATE INDEX IF NOT EXISTS messages_by_handoff ON messages (handoff_id, ts);
CREATE TABLE IF NOT EXISTS callbacks (
    id {pk},
    handoff_id TEXT REFERENCES handoffs(id),
    sender_id TEXT NOT NULL,
    channel TEXT,
    name TEXT NOT NULL,
    phone TEXT NOT NULL,
    consent TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    done_by BIGINT REFERENCES agents(id),
    done_at DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS login_failures (
    id {pk},
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_by_key ON login_failures (scope, key, ts);
CREATE TABLE IF NOT EXISTS audit (
    id {pk},
    ts DOUBLE PRECISION NOT NULL,
    agent_id BIGINT,
    action TEXT NOT NULL,
    handoff_id TEXT,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS interactions (
    id {pk},
    ts DOUBLE PRECISION NOT NULL,
    day TEXT NOT NULL,
    channel TEXT,
    conversation TEXT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT,
    reason TEXT,
    question TEXT NOT NULL DEFAULT '',
    guide_id TEXT,
    guesses TEXT NOT NULL DEFAULT '[]',
    intent TEXT
);
CREATE INDEX IF NOT EXISTS interactions_by_day ON interactions (day, kind);
"""
_ADD_ROLE = "ALTER TABLE agents ADD COLUMN role TEXT NOT NULL DEFAULT 'agent'"
AGENT_ROLES = ("agent", "supervisor")
_PK = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgres": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"}
_PG_LOGIN_LOCK = 724_1023  # pg_advisory_xact_lock key: login attempts are counted one at a time
_PG_SCHEMA_LOCK = 724_1022  # pg_advisory_xact_lock key: one process creates the tables at a time


class StoreError(RuntimeError):
    """The database cannot be reached or used."""


class _Tx:
    """Run SQL written with ``?`` placeholders on either backend; rows come back as dicts."""

    def __init__(self, store: Store, conn: Any) -> None:
        self.store, self.conn = store, conn

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.store.backend == "postgres" else sql

    def run(self, sql: str, args: tuple = ()) -> int:
        cursor = self.conn.execute(self._sql(sql), args)
        return cursor.rowcount

    def all(self, sql: str, args: tuple = ()) -> list[dict]:
        rows = self.conn.execute(self._sql(sql), args).fetchall()
        return [dict(r) for r in rows]

    def one(self, sql: str, args: tuple = ()) -> dict | None:
        row = self.conn.execute(self._sql(sql), args).fetchone()
        return dict(row) if row is not None else None


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith(("postgresql://", "postgres://")):
            self.backend = "postgres"
            self.path: Path | None = None
        else:
            self.backend = "sqlite"
            raw = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url
            path = Path(raw).expanduser()
            self.path = path if path.is_absolute() else PROJECT_ROOT / path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"Store({self.backend}: {self.path or self.url.split('@')[-1]})"

    # ------------------------------------------------------------------ connections

    def _connect(self) -> Any:
        if self.backend == "sqlite":
            import sqlite3

            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=15, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=15000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            return conn
        import psycopg
        from psycopg.rows import dict_row

        try:
            return psycopg.connect(self.url, autocommit=True, row_factory=dict_row, connect_timeout=10)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL ({self.url.split('@')[-1]}): {exc}") from exc

    def _is_dead(self, conn: Any) -> bool:
        if self.backend == "postgres":
            return bool(conn.closed or conn.broken)
        return False

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._is_dead(conn):
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        if not self._schema_ready:
            with self._lock:
                if not self._schema_ready:
                    self._create_schema(conn)
                    self._schema_ready = True
        return conn

    def _create_schema(self, conn: Any) -> None:
        statements = [s.strip() for s in _SCHEMA.format(pk=_PK[self.backend]).split(";") if s.strip()]
        if self.backend == "sqlite":
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements:
                    conn.execute(statement)
                columns = [r[1] for r in conn.execute("PRAGMA table_info(agents)").fetchall()]
                if "role" not in columns:  # databases made before roles
                    conn.execute(_ADD_ROLE)
                conn.execute("INSERT OR IGNORE INTO handoff_meta (key, value) VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION),))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        else:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_SCHEMA_LOCK,))
                for statement in statements:
                    conn.execute(statement)
                conn.execute(_ADD_ROLE.replace("ADD COLUMN", "ADD COLUMN IF NOT EXISTS"))
                conn.execute("INSERT INTO handoff_meta (key, value) VALUES ('schema_version', %s) "
                             "ON CONFLICT (key) DO NOTHING", (str(SCHEMA_VERSION),))

    @contextmanager
    def tx(self) -> Iterator[_Tx]:
        """One transaction (SQLite: BEGIN IMMEDIATE, so writers queue instead of failing)."""
        try:
            conn = self._conn()
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error, OSError: report as one kind
            raise StoreError(f"cannot open the handoff database: {exc}") from exc
        if self.backend == "sqlite":
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _Tx(self, conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        else:
            with conn.transaction():
                yield _Tx(self, conn)

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass
            self._connections.clear()
            self._local = threading.local()
            self._schema_ready = False

    def ping(self) -> bool:
        with self.tx() as db:
            return db.one("SELECT 1 AS ok")["ok"] == 1

    def _is_unique_violation(self, exc: BaseException) -> bool:
        if self.backend == "sqlite":
            import sqlite3

            return isinstance(exc, sqlite3.IntegrityError)
        import psycopg

        return isinstance(exc, psycopg.errors.UniqueViolation)

    # ------------------------------------------------------------------ handoffs

    def create_handoff(self, sender_id: str, channel: str | None, reason: str, understanding: dict,
                       transcript: list[dict], status: str = "queued", now: float | None = None,
                       synced_until: float | None = None) -> dict:
        """Store a new handoff with its transcript; returns the row plus ``position`` and ``existing``.

        A sender has at most one open (queued or claimed) handoff: asking again returns that one.
        """
        if status not in ("queued", "offline"):
            raise ValueError(f"a new handoff is queued or offline, not {status!r}")
        now = time.time() if now is None else now
        for _attempt in range(3):
            try:
                with self.tx() as db:
                    if status == "queued":
                        existing = db.one("SELECT * FROM handoffs WHERE sender_id = ? "
                                          "AND status IN ('queued', 'claimed')", (sender_id,))
                        if existing is not None:
                            return self._with_position(db, existing, existing=True)
                    handoff_id = uuid.uuid4().hex
                    last_ts = max([m.get("ts") or 0 for m in transcript] + [synced_until or 0])
                    db.run("INSERT INTO handoffs (id, sender_id, channel, status, reason, understanding, created_at, "
                           "updated_at, synced_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (handoff_id, sender_id, channel, status, reason,
                            json.dumps(understanding, ensure_ascii=False), now, now, last_ts or now))
                    self._insert_messages(db, handoff_id, transcript)
                    row = db.one("SELECT * FROM handoffs WHERE id = ?", (handoff_id,))
                    assert row is not None
                    return self._with_position(db, row, existing=False)
            except Exception as exc:
                if not self._is_unique_violation(exc):
                    raise
                log.info("handoff for %s created concurrently; returning that one", sender_id)
        raise StoreError("could not create the handoff")

    def _with_position(self, db: _Tx, row: dict, existing: bool) -> dict:
        row = self._decode(row)
        row["existing"] = existing
        row["position"] = self._position(db, row) if row["status"] == "queued" else 0
        return row

    @staticmethod
    def _position(db: _Tx, row: dict) -> int:
        found = db.one("SELECT COUNT(*) AS n FROM handoffs WHERE status = 'queued' AND "
                       "(created_at < ? OR (created_at = ? AND id <= ?))",
                       (row["created_at"], row["created_at"], row["id"]))
        return int(found["n"]) if found else 0

    @staticmethod
    def _decode(row: dict) -> dict:
        row = dict(row)
        if isinstance(row.get("understanding"), str):
            try:
                row["understanding"] = json.loads(row["understanding"])
            except ValueError:
                row["understanding"] = {}
        return row

    def queue_position(self, handoff_id: str) -> int:
        with self.tx() as db:
            row = db.one("SELECT * FROM handoffs WHERE id = ?", (handoff_id,))
            return self._position(db, row) if row and row["status"] == "queued" else 0

    def get_handoff(self, handoff_id: str) -> dict | None:
        with self.tx() as db:
            row = db.one("SELECT h.*, a.username AS claimed_by_username, a.display_name AS claimed_by_name "
                         "FROM handoffs h LEFT JOIN agents a ON a.id = h.claimed_by WHERE h.id = ?", (handoff_id,))
        return self._decode(row) if row else None

    def open_handoff_for_sender(self, sender_id: str) -> dict | None:
        with self.tx() as db:
            row = db.one("SELECT * FROM handoffs WHERE sender_id = ? AND status IN ('queued', 'claimed')", (sender_id,))
        return self._decode(row) if row else None

    def latest_handoff(self, sender_id: str) -> dict | None:
        """The sender's most recent handoff of any status."""
        with self.tx() as db:
            row = db.one("SELECT * FROM handoffs WHERE sender_id = ? ORDER BY created_at DESC, id DESC LIMIT 1",
                         (sender_id,))
        return self._decode(row) if row else None

    def list_handoffs(self, statuses: tuple[str, ...] = OPEN_STATUSES, limit: int = 200) -> list[dict]:
        marks = ", ".join("?" for _ in statuses)
        with self.tx() as db:
            rows = db.all("SELECT h.*, a.username AS claimed_by_username, a.display_name AS claimed_by_name "
                          f"FROM handoffs h LEFT JOIN agents a ON a.id = h.claimed_by WHERE h.status IN ({marks}) "
                          "ORDER BY h.created_at, h.id LIMIT ?", (*statuses, limit))
        return [self._decode(r) for r in rows]

    def claim(self, handoff_id: str, agent_id: int, now: float | None = None) -> bool:
        """Atomic: True for exactly one of several agents claiming the same queued handoff."""
        now = time.time() if now is None else now
        with self.tx() as db:
            won = db.run("UPDATE handoffs SET status = 'claimed', claimed_by = ?, claimed_at = ?, updated_at = ? "
                         "WHERE id = ? AND status = 'queued'", (agent_id, now, now, handoff_id)) == 1
            if won:
                self._audit(db, agent_id, "claim", handoff_id, None, now)
        return won

    def release(self, handoff_id: str, agent_id: int, now: float | None = None) -> bool:
        """Put a claimed handoff back in the queue (only its agent can)."""
        now = time.time() if now is None else now
        with self.tx() as db:
            done = db.run("UPDATE handoffs SET status = 'queued', claimed_by = NULL, claimed_at = NULL, updated_at = ? "
                          "WHERE id = ? AND status = 'claimed' AND claimed_by = ?", (now, handoff_id, agent_id)) == 1
            if done:
                self._audit(db, agent_id, "release", handoff_id, None, now)
        return done

    def finish(self, handoff_id: str, agent_id: int, status: str, now: float | None = None) -> bool:
        """``closed`` or ``returned`` (handed back to the bot); only the claiming agent can."""
        if status not in ("closed", "returned"):
            raise ValueError(status)
        now = time.time() if now is None else now
        with self.tx() as db:
            done = db.run("UPDATE handoffs SET status = ?, closed_at = ?, updated_at = ? "
                          "WHERE id = ? AND status = 'claimed' AND claimed_by = ?",
                          (status, now, now, handoff_id, agent_id)) == 1
            if done:
                self._audit(db, agent_id, status, handoff_id, None, now)
        return done

    # ------------------------------------------------------------------ messages

    def _insert_messages(self, db: _Tx, handoff_id: str, messages: list[dict]) -> int:
        added = 0
        for m in messages:
            role = m.get("role", "user")
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r}")
            text = str(m.get("text") or "")[:MAX_TEXT]
            if role == "user":
                text = redact_secrets(text)  # enforced here: a citizen's secret never reaches the disk
            if not text.strip():
                continue
            added += db.run("INSERT INTO messages (handoff_id, ts, role, text, agent_id, source_key, delivery) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (handoff_id, source_key) DO NOTHING",
                            (handoff_id, float(m.get("ts") or time.time()), role, text, m.get("agent_id"),
                             m.get("source_key"), m.get("delivery")))
        return added

    def add_messages(self, handoff_id: str, messages: list[dict], synced_until: float | None = None) -> int:
        """Append messages (idempotent for the same ``source_key``); returns how many were new."""
        with self.tx() as db:
            added = self._insert_messages(db, handoff_id, messages)
            if synced_until is not None:
                db.run("UPDATE handoffs SET synced_until = ? WHERE id = ? AND synced_until < ?",
                       (synced_until, handoff_id, synced_until))
            if added:
                db.run("UPDATE handoffs SET updated_at = ? WHERE id = ?", (time.time(), handoff_id))
        return added

    def messages(self, handoff_id: str) -> list[dict]:
        with self.tx() as db:
            return db.all("SELECT m.id, m.ts, m.role, m.text, m.delivery, a.username AS agent "
                          "FROM messages m LEFT JOIN agents a ON a.id = m.agent_id "
                          "WHERE m.handoff_id = ? ORDER BY m.ts, m.id", (handoff_id,))

    # ------------------------------------------------------------------ agents and sessions

    def set_role(self, username: str, role: str) -> bool:
        if role not in AGENT_ROLES:
            raise ValueError(f"role must be one of {', '.join(AGENT_ROLES)}")
        with self.tx() as db:
            return db.run("UPDATE agents SET role = ? WHERE username = ?", (role, username)) == 1

    def rehash_password(self, agent_id: int, password_hash: str) -> None:
        """A stronger hash of the same password (sessions stay, unlike :meth:`set_password`)."""
        with self.tx() as db:
            db.run("UPDATE agents SET password_hash = ? WHERE id = ?", (password_hash, agent_id))

    def create_agent(self, username: str, display_name: str, password_hash: str, now: float | None = None) -> int:
        now = time.time() if now is None else now
        try:
            with self.tx() as db:
                db.run("INSERT INTO agents (username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?)",
                       (username, display_name, password_hash, now))
                row = db.one("SELECT id FROM agents WHERE username = ?", (username,))
                assert row is not None
                self._audit(db, row["id"], "agent_created", None, username, now)
                return int(row["id"])
        except Exception as exc:
            if self._is_unique_violation(exc):
                raise ValueError(f"agent {username!r} already exists") from exc
            raise

    def set_password(self, username: str, password_hash: str) -> bool:
        with self.tx() as db:
            changed = db.run("UPDATE agents SET password_hash = ? WHERE username = ?", (password_hash, username)) == 1
            if changed:
                db.run("DELETE FROM sessions WHERE agent_id = (SELECT id FROM agents WHERE username = ?)", (username,))
        return changed

    def set_disabled(self, username: str, disabled: bool) -> bool:
        with self.tx() as db:
            changed = db.run("UPDATE agents SET disabled = ? WHERE username = ?", (1 if disabled else 0, username)) == 1
            if changed and disabled:
                db.run("DELETE FROM sessions WHERE agent_id = (SELECT id FROM agents WHERE username = ?)", (username,))
        return changed

    def agent_by_username(self, username: str) -> dict | None:
        with self.tx() as db:
            return db.one("SELECT * FROM agents WHERE username = ?", (username,))

    def list_agents(self) -> list[dict]:
        with self.tx() as db:
            return db.all("SELECT id, username, display_name, created_at, last_seen, disabled FROM agents "
                          "ORDER BY username")

    def heartbeat(self, agent_id: int, now: float | None = None) -> None:
        with self.tx() as db:
            db.run("UPDATE agents SET last_seen = ? WHERE id = ?", (time.time() if now is None else now, agent_id))

    def clear_heartbeat(self, agent_id: int) -> None:
        with self.tx() as db:
            db.run("UPDATE agents SET last_seen = NULL WHERE id = ?", (agent_id,))

    def online_agents(self, window_seconds: float, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self.tx() as db:
            row = db.one("SELECT COUNT(*) AS n FROM agents WHERE disabled = 0 AND last_seen >= ?",
                         (now - window_seconds,))
        return int(row["n"]) if row else 0

    def create_session(self, agent_id: int, token_hash: str, expires_at: float, ip: str | None,
                       now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.tx() as db:
            db.run("DELETE FROM sessions WHERE expires_at < ?", (now,))
            db.run("INSERT INTO sessions (token_hash, agent_id, created_at, expires_at, ip) VALUES (?, ?, ?, ?, ?)",
                   (token_hash, agent_id, now, expires_at, ip))
            self._audit(db, agent_id, "login", None, ip, now)

    def session_agent(self, token_hash: str, now: float | None = None, idle_seconds: float | None = None,
                      max_seconds: float | None = None) -> dict | None:
        """The session's agent, or None (unknown, expired, idle too long, disabled agent).

        With ``idle_seconds`` the session is extended on every use to ``now + idle_seconds``, never
        beyond ``created_at + max_seconds``: ``expires_at`` is the idle deadline."""
        now = time.time() if now is None else now
        with self.tx() as db:
            row = db.one("SELECT a.id, a.username, a.display_name, a.role, s.created_at FROM sessions s "
                         "JOIN agents a ON a.id = s.agent_id "
                         "WHERE s.token_hash = ? AND s.expires_at > ? AND a.disabled = 0", (token_hash, now))
            if row is not None and idle_seconds:
                until = now + idle_seconds
                if max_seconds:
                    until = min(until, float(row["created_at"]) + max_seconds)
                db.run("UPDATE sessions SET expires_at = ? WHERE token_hash = ?", (until, token_hash))
        if row is not None:
            row.pop("created_at", None)
        return row

    def delete_session(self, token_hash: str) -> None:
        with self.tx() as db:
            db.run("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    # ------------------------------------------------------------------ login rate limit

    def record_login_failure(self, keys: list[tuple[str, str]], now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.tx() as db:
            db.run("DELETE FROM login_failures WHERE ts < ?", (now - 86400,))
            for scope, key in keys:
                db.run("INSERT INTO login_failures (scope, key, ts) VALUES (?, ?, ?)", (scope, key, now))

    def login_attempt(self, limits: list[tuple[str, str, int]], window: float,
                      now: float | None = None) -> tuple[float, list[tuple[str, str]]]:
        """Atomically: ``(seconds to wait, [])`` if any ``(scope, key, limit)`` already has ``limit``
        failures in the last ``window`` seconds; else records one failure per key (the attempt
        counts as failed until :meth:`login_succeeded` says otherwise) and returns ``(0, keys)``.
        One transaction, so N concurrent wrong attempts are never all let through."""
        now = time.time() if now is None else now
        with self.tx() as db:
            if self.backend == "postgres":  # SQLite's BEGIN IMMEDIATE already serialises writers
                db.run("SELECT pg_advisory_xact_lock(?)", (_PG_LOGIN_LOCK,))
            for scope, key, limit in limits:
                row = db.one("SELECT COUNT(*) AS n, MIN(ts) AS first FROM login_failures "
                             "WHERE scope = ? AND key = ? AND ts >= ?", (scope, key, now - window))
                if row and int(row["n"]) >= limit:
                    return max(1.0, float(row["first"] or now) + window - now), []
            db.run("DELETE FROM login_failures WHERE ts < ?", (now - 86400,))
            keys = [(scope, key) for scope, key, _ in limits]
            for scope, key in keys:
                db.run("INSERT INTO login_failures (scope, key, ts) VALUES (?, ?, ?)", (scope, key, now))
        return 0.0, keys

    def login_succeeded(self, keys: list[tuple[str, str]]) -> None:
        """The attempt was right: its (user, address) failures go; the address's other ones stay."""
        with self.tx() as db:
            for scope, key in keys:
                if scope == "user_ip":
                    db.run("DELETE FROM login_failures WHERE scope = ? AND key = ?", (scope, key))
                else:  # take back only this attempt's own row
                    row = db.one("SELECT MAX(id) AS id FROM login_failures WHERE scope = ? AND key = ?", (scope, key))
                    if row and row["id"] is not None:
                        db.run("DELETE FROM login_failures WHERE id = ?", (row["id"],))

    def login_failures(self, scope: str, key: str, since: float) -> tuple[int, float | None]:
        """(failures since ``since``, time of the oldest of them)."""
        with self.tx() as db:
            row = db.one("SELECT COUNT(*) AS n, MIN(ts) AS first FROM login_failures "
                         "WHERE scope = ? AND key = ? AND ts >= ?", (scope, key, since))
        return (int(row["n"]), row["first"]) if row else (0, None)

    def clear_login_failures(self, scope: str, key: str) -> None:
        with self.tx() as db:
            db.run("DELETE FROM login_failures WHERE scope = ? AND key = ?", (scope, key))

    # ------------------------------------------------------------------ callbacks and audit

    def add_callback(self, sender_id: str, channel: str | None, name: str, phone: str, consent: str,
                     handoff_id: str | None = None, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self.tx() as db:
            db.run("INSERT INTO callbacks (handoff_id, sender_id, channel, name, phone, consent, created_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", (handoff_id, sender_id, channel, name, phone, consent, now))
            row = db.one("SELECT MAX(id) AS id FROM callbacks WHERE sender_id = ?", (sender_id,))
            return int(row["id"]) if row else 0

    def list_callbacks(self, status: str = "open", limit: int = 200) -> list[dict]:
        with self.tx() as db:
            return db.all("SELECT c.*, a.username AS done_by_username, h.claimed_by AS handoff_claimed_by, "
                          "h.status AS handoff_status FROM callbacks c "
                          "LEFT JOIN agents a ON a.id = c.done_by LEFT JOIN handoffs h ON h.id = c.handoff_id "
                          "WHERE c.status = ? ORDER BY c.created_at LIMIT ?", (status, limit))

    def purge(self, before: float, audit_before: float | None = None) -> dict[str, int]:
        """Retention: deletes finished handoffs (with their messages and call-backs), done call-backs,
        decisions (``interactions``), expired sessions and login failures older than ``before``; the
        audit trail older than ``audit_before``. Open handoffs and open call-backs are kept."""
        counts: dict[str, int] = {}
        old = "SELECT id FROM handoffs WHERE status NOT IN ('queued', 'claimed') AND updated_at < ?"
        with self.tx() as db:
            counts["messages"] = db.run(f"DELETE FROM messages WHERE handoff_id IN ({old})", (before,))
            counts["callbacks"] = db.run(
                f"DELETE FROM callbacks WHERE (status <> 'open' AND created_at < ?) OR handoff_id IN ({old})",
                (before, before))
            counts["handoffs"] = db.run("DELETE FROM handoffs WHERE status NOT IN ('queued', 'claimed') "
                                        "AND updated_at < ?", (before,))
            counts["interactions"] = db.run("DELETE FROM interactions WHERE ts < ?", (before,))
            counts["sessions"] = db.run("DELETE FROM sessions WHERE expires_at < ?", (time.time(),))
            counts["login_failures"] = db.run("DELETE FROM login_failures WHERE ts < ?", (before,))
            if audit_before is not None:
                counts["audit"] = db.run("DELETE FROM audit WHERE ts < ?", (audit_before,))
        return counts

    def get_callback(self, callback_id: int) -> dict | None:
        with self.tx() as db:
            return db.one("SELECT * FROM callbacks WHERE id = ?", (callback_id,))

    def finish_callback(self, callback_id: int, agent_id: int, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self.tx() as db:
            done = db.run("UPDATE callbacks SET status = 'done', done_by = ?, done_at = ? "
                          "WHERE id = ? AND status = 'open'", (agent_id, now, callback_id)) == 1
            if done:
                self._audit(db, agent_id, "callback_done", None, str(callback_id), now)
        return done

    @staticmethod
    def _audit(db: _Tx, agent_id: int | None, action: str, handoff_id: str | None, detail: str | None,
               now: float | None = None) -> None:
        db.run("INSERT INTO audit (ts, agent_id, action, handoff_id, detail) VALUES (?, ?, ?, ?, ?)",
               (time.time() if now is None else now, agent_id, action, handoff_id, detail))

    def audit(self, agent_id: int | None, action: str, handoff_id: str | None = None,
              detail: str | None = None) -> None:
        with self.tx() as db:
            self._audit(db, agent_id, action, handoff_id, detail)

    def audit_log(self, handoff_id: str | None = None) -> list[dict]:
        with self.tx() as db:
            if handoff_id:
                return db.all("SELECT * FROM audit WHERE handoff_id = ? ORDER BY id", (handoff_id,))
            return db.all("SELECT * FROM audit ORDER BY id")

    # ------------------------------------------------------------------ interactions (insights)

    def conversation_key(self, sender_id: str) -> str:
        """A short salted SHA-256 of ``sender_id``: counts distinct conversations, reveals no id.

        The salt is random, made once per database (``handoff_meta``), so the key of a phone-number-like
        sender id cannot be looked up from a list of numbers without the database itself.
        """
        salt = getattr(self, "_interaction_salt", None)
        if salt is None:
            with self.tx() as db:
                db.run("INSERT INTO handoff_meta (key, value) VALUES ('interactions_salt', ?) "
                       "ON CONFLICT (key) DO NOTHING", (secrets.token_hex(16),))
                row = db.one("SELECT value FROM handoff_meta WHERE key = 'interactions_salt'")
            assert row is not None
            salt = self._interaction_salt = row["value"]
        return hashlib.sha256(f"{salt}:{sender_id}".encode()).hexdigest()[:16]

    def record_interaction(self, kind: str, sender_id: str, *, channel: str | None = None, question: str | None = "",
                           outcome: str | None = None, reason: str | None = None, guide_id: str | None = None,
                           guesses: list[dict] | None = None, intent: str | None = None, now: float | None = None,
                           tz: str = "Asia/Ho_Chi_Minh") -> int:
        """Store one decision of the bot; returns its id.

        Privacy is enforced here, for every writer: the question goes through ``redact_secrets``
        (passwords, OTPs, passcodes) and ``mask_interaction_text`` (ID, phone and other long numbers,
        e-mail addresses); the sender id is stored only as :meth:`conversation_key`. ``day`` is the
        local date in ``tz``.
        """
        if kind not in INTERACTION_KINDS:
            raise ValueError(f"unknown interaction kind {kind!r}")
        now = time.time() if now is None else float(now)
        day = datetime.fromtimestamp(now, ZoneInfo(tz)).date().isoformat()
        text = mask_interaction_text(redact_secrets(str(question or "")))[:MAX_QUESTION]
        top = []
        for guess in (guesses or [])[:3]:
            if isinstance(guess, dict) and guess.get("id"):
                score = guess.get("score")
                top.append({"id": str(guess["id"])[:120],
                            "score": round(float(score), 4) if isinstance(score, (int, float)) else None})
        key = self.conversation_key(sender_id)

        def short(value: str | None, limit: int = 120) -> str | None:
            return None if value is None else mask_interaction_text(str(value))[:limit]

        with self.tx() as db:
            row = db.one("INSERT INTO interactions (ts, day, channel, conversation, kind, outcome, reason, question, "
                         "guide_id, guesses, intent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                         (now, day, short(channel, 40), key, kind, short(outcome), short(reason), text,
                          short(guide_id), json.dumps(top, ensure_ascii=False), short(intent, 80)))
        assert row is not None
        return int(row["id"])

    def interactions(self, since: str | None = None, until: str | None = None) -> list[dict]:
        """Recorded interactions with ``since <= day <= until`` (ISO dates, both optional), oldest first;
        ``guesses`` decoded to a list."""
        clauses, args = [], []
        if since:
            clauses.append("day >= ?")
            args.append(str(since))
        if until:
            clauses.append("day <= ?")
            args.append(str(until))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.tx() as db:
            rows = db.all(f"SELECT * FROM interactions{where} ORDER BY ts, id", tuple(args))
        for row in rows:
            try:
                row["guesses"] = json.loads(row.get("guesses") or "[]")
            except ValueError:
                row["guesses"] = []
        return rows


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def get_store(url: str | None = None) -> Store:
    """The process-wide store for ``url`` (default: from the environment). Opens nothing yet."""
    if url is None:
        from handoff.config import load_config

        url = load_config().database_url
    with _stores_lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = Store(url)
        return store
