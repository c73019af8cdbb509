"""Agents, their sessions, the login rate limit and the audit trail (a mixin of handoff.store.Store)."""

from __future__ import annotations

import time

from handoff.database import Tx

AGENT_ROLES = ("agent", "supervisor")
_PG_LOGIN_LOCK = 724_1023  # pg_advisory_xact_lock key: login attempts are counted one at a time

SCHEMA = """
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
"""


class AgentsTable:
    """Agents, sessions, login failures, audit."""

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
                db.run(
                    "INSERT INTO agents (username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?)",
                    (username, display_name, password_hash, now),
                )
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
            return db.all(
                "SELECT id, username, display_name, created_at, last_seen, disabled FROM agents ORDER BY username"
            )

    def heartbeat(self, agent_id: int, now: float | None = None) -> None:
        with self.tx() as db:
            db.run("UPDATE agents SET last_seen = ? WHERE id = ?", (time.time() if now is None else now, agent_id))

    def clear_heartbeat(self, agent_id: int) -> None:
        with self.tx() as db:
            db.run("UPDATE agents SET last_seen = NULL WHERE id = ?", (agent_id,))

    def online_agents(self, window_seconds: float, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self.tx() as db:
            row = db.one(
                "SELECT COUNT(*) AS n FROM agents WHERE disabled = 0 AND last_seen >= ?", (now - window_seconds,)
            )
        return int(row["n"]) if row else 0

    def create_session(
        self, agent_id: int, token_hash: str, expires_at: float, ip: str | None, now: float | None = None
    ) -> None:
        now = time.time() if now is None else now
        with self.tx() as db:
            db.run("DELETE FROM sessions WHERE expires_at < ?", (now,))
            db.run(
                "INSERT INTO sessions (token_hash, agent_id, created_at, expires_at, ip) VALUES (?, ?, ?, ?, ?)",
                (token_hash, agent_id, now, expires_at, ip),
            )
            self._audit(db, agent_id, "login", None, ip, now)

    def session_agent(
        self,
        token_hash: str,
        now: float | None = None,
        idle_seconds: float | None = None,
        max_seconds: float | None = None,
    ) -> dict | None:
        """The session's agent, or None (unknown, expired, idle too long, disabled agent).

        With ``idle_seconds`` the session is extended on every use to ``now + idle_seconds``, never
        beyond ``created_at + max_seconds``: ``expires_at`` is the idle deadline."""
        now = time.time() if now is None else now
        with self.tx() as db:
            row = db.one(
                "SELECT a.id, a.username, a.display_name, a.role, s.created_at FROM sessions s "
                "JOIN agents a ON a.id = s.agent_id "
                "WHERE s.token_hash = ? AND s.expires_at > ? AND a.disabled = 0",
                (token_hash, now),
            )
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

    def login_attempt(
        self, limits: list[tuple[str, str, int]], window: float, now: float | None = None
    ) -> tuple[float, list[tuple[str, str]]]:
        """Atomically: ``(seconds to wait, [])`` if any ``(scope, key, limit)`` already has ``limit``
        failures in the last ``window`` seconds; else records one failure per key (the attempt
        counts as failed until :meth:`login_succeeded` says otherwise) and returns ``(0, keys)``.
        One transaction, so N concurrent wrong attempts are never all let through."""
        now = time.time() if now is None else now
        with self.tx() as db:
            if self.backend == "postgres":  # SQLite's BEGIN IMMEDIATE already serialises writers
                db.run("SELECT pg_advisory_xact_lock(?)", (_PG_LOGIN_LOCK,))
            for scope, key, limit in limits:
                row = db.one(
                    "SELECT COUNT(*) AS n, MIN(ts) AS first FROM login_failures "
                    "WHERE scope = ? AND key = ? AND ts >= ?",
                    (scope, key, now - window),
                )
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
            row = db.one(
                "SELECT COUNT(*) AS n, MIN(ts) AS first FROM login_failures WHERE scope = ? AND key = ? AND ts >= ?",
                (scope, key, since),
            )
        return (int(row["n"]), row["first"]) if row else (0, None)

    def clear_login_failures(self, scope: str, key: str) -> None:
        with self.tx() as db:
            db.run("DELETE FROM login_failures WHERE scope = ? AND key = ?", (scope, key))

    # ------------------------------------------------------------------ audit

    @staticmethod
    def _audit(
        db: Tx, agent_id: int | None, action: str, handoff_id: str | None, detail: str | None, now: float | None = None
    ) -> None:
        db.run(
            "INSERT INTO audit (ts, agent_id, action, handoff_id, detail) VALUES (?, ?, ?, ?, ?)",
            (time.time() if now is None else now, agent_id, action, handoff_id, detail),
        )

    def _update_audited(
        self,
        sql: str,
        args: tuple,
        *,
        agent_id: int,
        action: str,
        now: float,
        handoff_id: str | None = None,
        detail: str | None = None,
    ) -> bool:
        """One transaction: the conditional UPDATE ``sql``, then its audit row if it changed exactly one row."""
        with self.tx() as db:
            done = db.run(sql, args) == 1
            if done:
                self._audit(db, agent_id, action, handoff_id, detail, now)
        return done

    def audit(
        self, agent_id: int | None, action: str, handoff_id: str | None = None, detail: str | None = None
    ) -> None:
        with self.tx() as db:
            self._audit(db, agent_id, action, handoff_id, detail)

    def audit_log(self, handoff_id: str | None = None) -> list[dict]:
        with self.tx() as db:
            if handoff_id:
                return db.all("SELECT * FROM audit WHERE handoff_id = ? ORDER BY id", (handoff_id,))
            return db.all("SELECT * FROM audit ORDER BY id")
