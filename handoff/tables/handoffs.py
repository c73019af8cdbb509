"""The ``handoffs`` queue and the ``messages`` of each handoff (a mixin of handoff.store.Store).

Statuses: ``queued`` (waiting for an agent) -> ``claimed`` (an agent answers) -> ``closed`` (done)
or ``returned`` (handed back to the bot); ``offline`` (no agent was available: the citizen got the
hotline number and may have left a callback request). Every state change that two agents could race
for is one conditional ``UPDATE ... WHERE status = ...``, so exactly one of them wins.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from core.privacy import redact_secrets
from handoff.database import StoreError, Tx, with_json

log = logging.getLogger(__name__)

OPEN_STATUSES = ("queued", "claimed")
ROLES = ("user", "bot", "agent", "system")
MAX_TEXT = 4000

SCHEMA = """
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
"""


class HandoffsTable:
    """Handoffs and their messages."""

    def create_handoff(
        self,
        sender_id: str,
        channel: str | None,
        reason: str,
        understanding: dict,
        transcript: list[dict],
        status: str = "queued",
        now: float | None = None,
        synced_until: float | None = None,
    ) -> dict:
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
                        existing = db.one(
                            "SELECT * FROM handoffs WHERE sender_id = ? AND status IN ('queued', 'claimed')",
                            (sender_id,),
                        )
                        if existing is not None:
                            return self._with_position(db, existing, existing=True)
                    handoff_id = uuid.uuid4().hex
                    last_ts = max([m.get("ts") or 0 for m in transcript] + [synced_until or 0])
                    db.run(
                        "INSERT INTO handoffs (id, sender_id, channel, status, reason, understanding, created_at, "
                        "updated_at, synced_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            handoff_id,
                            sender_id,
                            channel,
                            status,
                            reason,
                            json.dumps(understanding, ensure_ascii=False),
                            now,
                            now,
                            last_ts or now,
                        ),
                    )
                    self._insert_messages(db, handoff_id, transcript)
                    row = db.one("SELECT * FROM handoffs WHERE id = ?", (handoff_id,))
                    assert row is not None
                    return self._with_position(db, row, existing=False)
            except Exception as exc:
                if not self._is_unique_violation(exc):
                    raise
                log.info("handoff for %s created concurrently; returning that one", sender_id)
        raise StoreError("could not create the handoff")

    def _with_position(self, db: Tx, row: dict, existing: bool) -> dict:
        row = self._decode(row)
        row["existing"] = existing
        row["position"] = self._position(db, row) if row["status"] == "queued" else 0
        return row

    @staticmethod
    def _position(db: Tx, row: dict) -> int:
        found = db.one(
            "SELECT COUNT(*) AS n FROM handoffs WHERE status = 'queued' AND "
            "(created_at < ? OR (created_at = ? AND id <= ?))",
            (row["created_at"], row["created_at"], row["id"]),
        )
        return int(found["n"]) if found else 0

    @staticmethod
    def _decode(row: dict) -> dict:
        return with_json(row, "understanding", dict)

    def queue_position(self, handoff_id: str) -> int:
        with self.tx() as db:
            row = db.one("SELECT * FROM handoffs WHERE id = ?", (handoff_id,))
            return self._position(db, row) if row and row["status"] == "queued" else 0

    def get_handoff(self, handoff_id: str) -> dict | None:
        with self.tx() as db:
            row = db.one(
                "SELECT h.*, a.username AS claimed_by_username, a.display_name AS claimed_by_name "
                "FROM handoffs h LEFT JOIN agents a ON a.id = h.claimed_by WHERE h.id = ?",
                (handoff_id,),
            )
        return self._decode(row) if row else None

    def open_handoff_for_sender(self, sender_id: str) -> dict | None:
        with self.tx() as db:
            row = db.one("SELECT * FROM handoffs WHERE sender_id = ? AND status IN ('queued', 'claimed')", (sender_id,))
        return self._decode(row) if row else None

    def latest_handoff(self, sender_id: str) -> dict | None:
        """The sender's most recent handoff of any status."""
        with self.tx() as db:
            row = db.one(
                "SELECT * FROM handoffs WHERE sender_id = ? ORDER BY created_at DESC, id DESC LIMIT 1", (sender_id,)
            )
        return self._decode(row) if row else None

    def list_handoffs(self, statuses: tuple[str, ...] = OPEN_STATUSES, limit: int = 200) -> list[dict]:
        marks = ", ".join("?" for _ in statuses)
        with self.tx() as db:
            rows = db.all(
                "SELECT h.*, a.username AS claimed_by_username, a.display_name AS claimed_by_name "
                f"FROM handoffs h LEFT JOIN agents a ON a.id = h.claimed_by WHERE h.status IN ({marks}) "
                "ORDER BY h.created_at, h.id LIMIT ?",
                (*statuses, limit),
            )
        return [self._decode(r) for r in rows]

    def claim(self, handoff_id: str, agent_id: int, now: float | None = None) -> bool:
        """Atomic: True for exactly one of several agents claiming the same queued handoff."""
        now = time.time() if now is None else now
        return self._update_audited(
            "UPDATE handoffs SET status = 'claimed', claimed_by = ?, claimed_at = ?, updated_at = ? "
            "WHERE id = ? AND status = 'queued'",
            (agent_id, now, now, handoff_id),
            agent_id=agent_id,
            action="claim",
            now=now,
            handoff_id=handoff_id,
        )

    def release(self, handoff_id: str, agent_id: int, now: float | None = None) -> bool:
        """Put a claimed handoff back in the queue (only its agent can)."""
        now = time.time() if now is None else now
        return self._update_audited(
            "UPDATE handoffs SET status = 'queued', claimed_by = NULL, claimed_at = NULL, updated_at = ? "
            "WHERE id = ? AND status = 'claimed' AND claimed_by = ?",
            (now, handoff_id, agent_id),
            agent_id=agent_id,
            action="release",
            now=now,
            handoff_id=handoff_id,
        )

    def finish(self, handoff_id: str, agent_id: int, status: str, now: float | None = None) -> bool:
        """``closed`` or ``returned`` (handed back to the bot); only the claiming agent can."""
        if status not in ("closed", "returned"):
            raise ValueError(status)
        now = time.time() if now is None else now
        return self._update_audited(
            "UPDATE handoffs SET status = ?, closed_at = ?, updated_at = ? "
            "WHERE id = ? AND status = 'claimed' AND claimed_by = ?",
            (status, now, now, handoff_id, agent_id),
            agent_id=agent_id,
            action=status,
            now=now,
            handoff_id=handoff_id,
        )

    # ------------------------------------------------------------------ messages

    def _insert_messages(self, db: Tx, handoff_id: str, messages: list[dict]) -> int:
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
            added += db.run(
                "INSERT INTO messages (handoff_id, ts, role, text, agent_id, source_key, delivery) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (handoff_id, source_key) DO NOTHING",
                (
                    handoff_id,
                    float(m.get("ts") or time.time()),
                    role,
                    text,
                    m.get("agent_id"),
                    m.get("source_key"),
                    m.get("delivery"),
                ),
            )
        return added

    def add_messages(self, handoff_id: str, messages: list[dict], synced_until: float | None = None) -> int:
        """Append messages (idempotent for the same ``source_key``); returns how many were new."""
        with self.tx() as db:
            added = self._insert_messages(db, handoff_id, messages)
            if synced_until is not None:
                db.run(
                    "UPDATE handoffs SET synced_until = ? WHERE id = ? AND synced_until < ?",
                    (synced_until, handoff_id, synced_until),
                )
            if added:
                db.run("UPDATE handoffs SET updated_at = ? WHERE id = ?", (time.time(), handoff_id))
        return added

    def messages(self, handoff_id: str) -> list[dict]:
        with self.tx() as db:
            return db.all(
                "SELECT m.id, m.ts, m.role, m.text, m.delivery, a.username AS agent "
                "FROM messages m LEFT JOIN agents a ON a.id = m.agent_id "
                "WHERE m.handoff_id = ? ORDER BY m.ts, m.id",
                (handoff_id,),
            )
