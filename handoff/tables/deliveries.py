"""Replies waiting to reach Zalo or Messenger (a mixin of handoff.store.Store).

The Rasa process (bot/channels/outbox.py) writes a row before each send and marks it ``sent``,
``failed`` (the platform refused it: 4xx) or ``pending`` again with a later ``next_at`` (no answer,
5xx, 429). A row is sent by whoever holds its lease (``lease_until``), so two replicas, or a
process restarted after a crash, never send the same row at the same time; a citizen's rows go out in
``id`` order (a row waits while an older one of the same conversation is pending). The agent console
lists the failed ones. The text of a sent row is cleared at once; rows go with the retention purge.
"""

from __future__ import annotations

import time

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id {pk},
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at DOUBLE PRECISION NOT NULL,
    lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    done_at DOUBLE PRECISION,
    last_status INTEGER,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (channel, state, next_at);
CREATE INDEX IF NOT EXISTS deliveries_recipient ON deliveries (channel, recipient, state, id);
"""

STATES = ("pending", "sent", "failed")
# An older pending row of the same conversation holds this one back.
_OLDER_PENDING = (
    "SELECT 1 FROM deliveries o WHERE o.channel = ? AND o.recipient = ? AND o.state = 'pending' AND o.id < ?"
)


class DeliveriesTable:
    """The outbound outbox of the Zalo and Messenger channels."""

    def delivery_add(
        self, channel: str, recipient: str, body: str, lease: float, now: float | None = None
    ) -> tuple[int, bool]:
        """Stores a reply; returns its id and whether the caller holds its lease and may send it now
        (no older reply of the same conversation is still pending)."""
        now = time.time() if now is None else now
        with self.tx() as db:
            row = db.one(
                "INSERT INTO deliveries (channel, recipient, body, next_at, created_at) VALUES (?, ?, ?, ?, ?) "
                "RETURNING id",
                (channel, recipient, body, now, now),
            )
            delivery_id = int(row["id"])
            if db.one(_OLDER_PENDING, (channel, recipient, delivery_id)):
                return delivery_id, False
            db.run("UPDATE deliveries SET lease_until = ? WHERE id = ?", (now + lease, delivery_id))
            return delivery_id, True

    def delivery_claim(self, channel: str, lease: float, limit: int = 20, now: float | None = None) -> list[dict]:
        """Due pending rows of ``channel`` nobody holds and no older pending row holds back, leased to
        the caller (oldest first)."""
        now = time.time() if now is None else now
        with self.tx() as db:
            rows = db.all(
                "SELECT d.id, d.recipient, d.body, d.attempts FROM deliveries d "
                "WHERE d.channel = ? AND d.state = 'pending' AND d.next_at <= ? AND d.lease_until < ? "
                "AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.channel = d.channel "
                "AND o.recipient = d.recipient AND o.state = 'pending' AND o.id < d.id) ORDER BY d.id LIMIT ?",
                (channel, now, now, limit),
            )
            claimed = []
            for row in rows:
                taken = db.run(
                    "UPDATE deliveries SET lease_until = ? WHERE id = ? AND state = 'pending' AND lease_until < ?",
                    (now + lease, row["id"], now),
                )
                if taken == 1:
                    claimed.append(row)
            return claimed

    def delivery_sent(self, delivery_id: int, status: int, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.tx() as db:
            db.run(
                "UPDATE deliveries SET state = 'sent', body = '', attempts = attempts + 1, done_at = ?, "
                "last_status = ?, last_error = NULL, lease_until = 0 WHERE id = ?",
                (now, status, delivery_id),
            )

    def delivery_failed(self, delivery_id: int, status: int, error: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.tx() as db:
            db.run(
                "UPDATE deliveries SET state = 'failed', attempts = attempts + 1, done_at = ?, last_status = ?, "
                "last_error = ?, lease_until = 0 WHERE id = ?",
                (now, status, error[:500], delivery_id),
            )

    def delivery_retry(self, delivery_id: int, next_at: float, status: int, error: str) -> None:
        with self.tx() as db:
            db.run(
                "UPDATE deliveries SET attempts = attempts + 1, next_at = ?, last_status = ?, last_error = ?, "
                "lease_until = 0 WHERE id = ?",
                (next_at, status, error[:500], delivery_id),
            )

    def deliveries(self, state: str = "failed", limit: int = 100, recipient: str | None = None) -> list[dict]:
        """Rows in ``state`` (of one conversation if ``recipient``), newest first: the console's list of
        replies that did not reach a citizen."""
        where, args = "state = ?", [state]
        if recipient is not None:
            where, args = where + " AND recipient = ?", [*args, recipient]
        with self.tx() as db:
            return db.all(
                "SELECT id, channel, recipient, body, state, attempts, created_at, done_at, last_status, last_error "
                f"FROM deliveries WHERE {where} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            )

    def delivery_counts(self) -> dict[str, int]:
        with self.tx() as db:
            rows = db.all("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state")
        counts = dict.fromkeys(STATES, 0)
        counts.update({r["state"]: int(r["n"]) for r in rows})
        return counts
