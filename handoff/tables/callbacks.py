"""Call-back requests a citizen left when no agent was online (a mixin of handoff.store.Store)."""

from __future__ import annotations

import time


SCHEMA = """
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
"""


class CallbacksTable:
    """Call-back requests."""

    def add_callback(
        self,
        sender_id: str,
        channel: str | None,
        name: str,
        phone: str,
        consent: str,
        handoff_id: str | None = None,
        now: float | None = None,
    ) -> int:
        now = time.time() if now is None else now
        with self.tx() as db:
            db.run(
                "INSERT INTO callbacks (handoff_id, sender_id, channel, name, phone, consent, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (handoff_id, sender_id, channel, name, phone, consent, now),
            )
            row = db.one("SELECT MAX(id) AS id FROM callbacks WHERE sender_id = ?", (sender_id,))
            return int(row["id"]) if row else 0

    def list_callbacks(self, status: str = "open", limit: int = 200) -> list[dict]:
        with self.tx() as db:
            return db.all(
                "SELECT c.*, a.username AS done_by_username, h.claimed_by AS handoff_claimed_by, "
                "h.status AS handoff_status FROM callbacks c "
                "LEFT JOIN agents a ON a.id = c.done_by LEFT JOIN handoffs h ON h.id = c.handoff_id "
                "WHERE c.status = ? ORDER BY c.created_at LIMIT ?",
                (status, limit),
            )

    def finish_callback(self, callback_id: int, agent_id: int, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self._update_audited(
            "UPDATE callbacks SET status = 'done', done_by = ?, done_at = ? WHERE id = ? AND status = 'open'",
            (agent_id, now, callback_id),
            agent_id=agent_id,
            action="callback_done",
            now=now,
            detail=str(callback_id),
        )
