"""The ``interactions`` table: one row per decision the bot sent, for ``python -m insights.report``.

A mixin of the handoff store (one database, one transaction layer: handoff/database.py); the rows are
written by insights/recording.py in a background thread and read by insights/report.py.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from core.privacy import mask_interaction_text, redact_secrets
from core.settings import TIMEZONE
from handoff.database import with_json

# What the bot decided, one row per {"dvc": ...} decision it sent (insights/recording.py).
INTERACTION_KINDS = ("answered", "clarified", "abstained", "out_of_scope", "offered_handoff", "handoff", "feedback")
MAX_QUESTION = 1000

SCHEMA = """
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


class InteractionsTable:
    """The bot's decisions, masked; the conversation only as a salted key."""

    def conversation_key(self, sender_id: str) -> str:
        """A short salted SHA-256 of ``sender_id``: counts distinct conversations, reveals no id.

        The salt is random, made once per database (``handoff_meta``), so the key of a phone-number-like
        sender id cannot be looked up from a list of numbers without the database itself.
        """
        salt = getattr(self, "_interaction_salt", None)
        if salt is None:
            with self.tx() as db:
                db.run(
                    "INSERT INTO handoff_meta (key, value) VALUES ('interactions_salt', ?) "
                    "ON CONFLICT (key) DO NOTHING",
                    (secrets.token_hex(16),),
                )
                row = db.one("SELECT value FROM handoff_meta WHERE key = 'interactions_salt'")
            assert row is not None
            salt = self._interaction_salt = row["value"]
        return hashlib.sha256(f"{salt}:{sender_id}".encode()).hexdigest()[:16]

    def record_interaction(
        self,
        kind: str,
        sender_id: str,
        *,
        channel: str | None = None,
        question: str | None = "",
        outcome: str | None = None,
        reason: str | None = None,
        guide_id: str | None = None,
        guesses: list[dict] | None = None,
        intent: str | None = None,
        now: float | None = None,
        tz: str = TIMEZONE,
    ) -> int:
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
                top.append(
                    {
                        "id": str(guess["id"])[:120],
                        "score": round(float(score), 4) if isinstance(score, (int, float)) else None,
                    }
                )
        key = self.conversation_key(sender_id)

        def short(value: str | None, limit: int = 120) -> str | None:
            return None if value is None else mask_interaction_text(str(value))[:limit]

        with self.tx() as db:
            row = db.one(
                "INSERT INTO interactions (ts, day, channel, conversation, kind, outcome, reason, question, "
                "guide_id, guesses, intent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    now,
                    day,
                    short(channel, 40),
                    key,
                    kind,
                    short(outcome),
                    short(reason),
                    text,
                    short(guide_id),
                    json.dumps(top, ensure_ascii=False),
                    short(intent, 80),
                ),
            )
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
        return [with_json(row, "guesses", list) for row in rows]  # guesses is TEXT NOT NULL: '' -> []
