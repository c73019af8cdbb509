"""The mailbox and the REST outbox in PostgreSQL, shared by every Rasa replica.

With ``WEBCHAT_DB`` / ``REST_OUTBOX_DB`` (or ``db_path`` in credentials.yml) set to a
``postgresql://`` URL, :meth:`MailboxConfig.open` returns these instead of the SQLite ones: any
replica then serves any poll, and a message appended by one replica (a reply, or an agent's push
from the console through Rasa's API) wakes a long poll held by another one, through PostgreSQL's
``LISTEN``/``NOTIFY``. Ids are given by the database (one row per sender, locked while a message
is appended), so they stay in order whichever replica appends.

Same interface as :class:`Mailbox` (and the REST channel's ``Outbox``); calls are short
statements on one connection, made on the event loop thread like the SQLite ones. If PostgreSQL
fails, the call is logged and served from this replica's memory, as the SQLite mailbox does when
its file fails. The web chat's "the bot is typing" flag stays per replica.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from bot.channels.mailbox import MAX_EVENTS_PER_POLL, Mailbox

logger = logging.getLogger(__name__)

CHANNEL = "dvc_mailbox"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS mailbox_meta (box TEXT PRIMARY KEY, epoch TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS mailbox_senders ("
    " box TEXT NOT NULL, sender TEXT NOT NULL, last_id BIGINT NOT NULL, PRIMARY KEY (box, sender))",
    "CREATE TABLE IF NOT EXISTS mailbox_events ("
    " box TEXT NOT NULL, sender TEXT NOT NULL, id BIGINT NOT NULL, ts DOUBLE PRECISION NOT NULL,"
    " client_msg_id TEXT, data TEXT NOT NULL, PRIMARY KEY (box, sender, id))",
    "CREATE INDEX IF NOT EXISTS mailbox_events_ts ON mailbox_events (ts)",
    "CREATE INDEX IF NOT EXISTS mailbox_events_client ON mailbox_events (box, sender, client_msg_id)"
    " WHERE client_msg_id IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS mailbox_handled ("
    " box TEXT NOT NULL, sender TEXT NOT NULL, client_msg_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL,"
    " PRIMARY KEY (box, sender, client_msg_id))",
    "CREATE TABLE IF NOT EXISTS mailbox_delivered ("
    " box TEXT NOT NULL, sender TEXT NOT NULL, upto BIGINT NOT NULL, PRIMARY KEY (box, sender))",
)
_SCHEMA_LOCK = 724_1023  # pg_advisory_xact_lock key: one replica creates the tables at a time


def purge(conn: Any, cutoff: float, box: str | None = None) -> int:
    """Retention on ``conn`` (a psycopg connection, inside a transaction): the events and "handled"
    markers older than ``cutoff`` (of ``box``, or of every box); a sender with nothing left starts
    again at id 1, and so does its delivery cursor. Returns how many events went."""
    where, args = ("box = %s AND ts < %s", (box, cutoff)) if box else ("ts < %s", (cutoff,))
    conn.execute(f"DELETE FROM mailbox_handled WHERE {where}", args)
    deleted = conn.execute(f"DELETE FROM mailbox_events WHERE {where}", args).rowcount
    for table in ("mailbox_senders", "mailbox_delivered"):
        conn.execute(
            f"DELETE FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM mailbox_events e"
            " WHERE e.box = t.box AND e.sender = t.sender)" + (" AND t.box = %s" if box else ""),
            (box,) if box else (),
        )
    return deleted


def is_postgres_url(value: str | None) -> bool:
    return bool(value) and str(value).startswith(("postgresql://", "postgres://"))


class PgMailbox(Mailbox):
    """:class:`Mailbox` whose events, ids and epoch live in PostgreSQL (table rows keyed by ``box``)."""

    box: ClassVar[str] = "webchat"
    # How long a long poll sleeps between looks when no notification can arrive (listener down).
    fallback_poll: ClassVar[float] = 1.0

    def __init__(
        self,
        url: str,
        memory_events: int = 200,
        history_events: int = 1000,
        max_senders: int = 10_000,
        retention_days: float = 30.0,
    ) -> None:
        super().__init__(None, memory_events, history_events, max_senders, retention_days)
        self.url = url
        self._conn: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._listening = False
        try:
            self._setup(retention_days)
            logger.info("%s mailbox: PostgreSQL %s (shared by every replica).", self.label, url.split("@")[-1])
        except Exception:
            logger.exception("%s: cannot use PostgreSQL; history is kept in this replica's memory.", self.label)

    # -- the connection -------------------------------------------------------- #

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed or self._conn.broken:
            import psycopg

            self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        return self._conn

    def _setup(self, retention_days: float) -> None:
        conn = self._connection()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO mailbox_meta (box, epoch) VALUES (%s, %s) ON CONFLICT (box) DO NOTHING",
                (self.box, self.epoch),
            )
            self.epoch = conn.execute("SELECT epoch FROM mailbox_meta WHERE box = %s", (self.box,)).fetchone()[0]
            if retention_days > 0:
                deleted = purge(conn, time.time() - retention_days * 86400, self.box)
                if deleted:
                    logger.info("%s: deleted %d expired events.", self.label, deleted)

    def _query(self, what: str, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]] | None:
        """Rows of one statement, or None (logged) if PostgreSQL failed."""
        try:
            return self._connection().execute(sql, args).fetchall()
        except Exception:
            logger.exception("%s: PostgreSQL error while %s.", self.label, what)
            return None

    @property
    def persistent(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            self._listener = None
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # pragma: no cover
                logger.debug("closing the mailbox connection failed", exc_info=True)
            self._conn = None

    # -- API --------------------------------------------------------------------- #

    def append(self, sender: str, event: Mapping[str, Any]) -> dict[str, Any]:
        stored = {k: v for k, v in event.items() if v not in (None, "", [])}
        stored.setdefault("ts", round(time.time(), 3))
        try:
            conn = self._connection()
            with conn.transaction():
                stored["id"] = conn.execute(
                    "INSERT INTO mailbox_senders (box, sender, last_id) VALUES (%s, %s, 1)"
                    " ON CONFLICT (box, sender) DO UPDATE SET last_id = mailbox_senders.last_id + 1 RETURNING last_id",
                    (self.box, sender),
                ).fetchone()[0]
                conn.execute(
                    "INSERT INTO mailbox_events (box, sender, id, ts, client_msg_id, data)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    (self.box, sender, *self.columns(stored)),
                )
                if stored["id"] % 50 == 0:
                    conn.execute(
                        "DELETE FROM mailbox_events WHERE box = %s AND sender = %s AND id <= %s",
                        (self.box, sender, stored["id"] - self.history_events),
                    )
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.box}:{sender}"))
        except Exception:
            logger.exception("%s: PostgreSQL error while storing an event; kept in memory.", self.label)
            return super().append(sender, event)
        self.notify(sender)
        return stored

    def last_id(self, sender: str) -> int:
        rows = self._query(
            "reading a last id",
            "SELECT last_id FROM mailbox_senders WHERE box = %s AND sender = %s",
            (self.box, sender),
        )
        if rows is None:
            return super().last_id(sender)
        return int(rows[0][0]) if rows else 0

    def events_after(self, sender: str, after: int, limit: int = MAX_EVENTS_PER_POLL) -> list[dict[str, Any]]:
        rows = self._query(
            "reading events",
            "SELECT data FROM mailbox_events WHERE box = %s AND sender = %s AND id > %s ORDER BY id LIMIT %s",
            (self.box, sender, after, limit),
        )
        if rows is None:
            return super().events_after(sender, after, limit)
        return [json.loads(r[0]) for r in rows]

    def mark_handled(self, sender: str, client_msg_id: str) -> None:
        rows = self._query(
            "recording a handled message",
            "INSERT INTO mailbox_handled (box, sender, client_msg_id, ts) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            (self.box, sender, client_msg_id, time.time()),
        )
        if rows is None:
            super().mark_handled(sender, client_msg_id)

    def was_handled(self, sender: str, client_msg_id: str) -> bool:
        rows = self._query(
            "looking up a handled message",
            "SELECT 1 FROM mailbox_handled WHERE box = %s AND sender = %s AND client_msg_id = %s",
            (self.box, sender, client_msg_id),
        )
        return bool(rows) if rows is not None else super().was_handled(sender, client_msg_id)

    def last_event(self, sender: str) -> dict[str, Any] | None:
        rows = self._query(
            "reading the last event",
            "SELECT data FROM mailbox_events WHERE box = %s AND sender = %s ORDER BY id DESC LIMIT 1",
            (self.box, sender),
        )
        if rows is None:
            return super().last_event(sender)
        return json.loads(rows[0][0]) if rows else None

    def find_client_msg(self, sender: str, client_msg_id: str) -> dict[str, Any] | None:
        rows = self._query(
            "looking up a message",
            "SELECT data FROM mailbox_events WHERE box = %s AND sender = %s AND client_msg_id = %s ORDER BY id LIMIT 1",
            (self.box, sender, client_msg_id),
        )
        if rows is None:
            return super().find_client_msg(sender, client_msg_id)
        return json.loads(rows[0][0]) if rows else None

    def has_client_msg(self, sender: str, client_msg_id: str) -> bool:
        rows = self._query(
            "looking up a message id",
            "SELECT 1 FROM mailbox_events WHERE box = %s AND sender = %s AND client_msg_id = %s LIMIT 1",
            (self.box, sender, client_msg_id),
        )
        return bool(rows) if rows is not None else super().has_client_msg(sender, client_msg_id)

    # -- waking long polls on every replica -------------------------------------- #

    async def wait(self, sender: str, timeout: float) -> None:
        self._ensure_listener()
        await super().wait(sender, timeout if self._listening else min(timeout, self.fallback_poll))

    def _ensure_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        """Wakes this replica's long polls when any replica appends (``NOTIFY``); reconnects if
        PostgreSQL goes away, long polls looking every ``fallback_poll`` seconds meanwhile."""
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening = True
                    prefix = f"{self.box}:"
                    async for note in conn.notifies():
                        if note.payload.startswith(prefix):
                            self.notify(note.payload[len(prefix) :])
            except asyncio.CancelledError:
                self._listening = False
                raise
            except Exception:
                if self._listening:
                    logger.exception("%s: lost the PostgreSQL notifications; reconnecting.", self.label)
            self._listening = False
            await asyncio.sleep(self.fallback_poll)


class PgOutbox(PgMailbox):
    """The REST channel's outbox (bot/channels/rest.py ``Outbox``) in PostgreSQL: the "delivered up
    to" cursor is taken and moved in one transaction, so two replicas never hand out one message twice."""

    box: ClassVar[str] = "rest"
    label: ClassVar[str] = "REST outbox"

    def delivered(self, sender: str) -> int:
        rows = self._query(
            "reading a delivery cursor",
            "SELECT upto FROM mailbox_delivered WHERE box = %s AND sender = %s",
            (self.box, sender),
        )
        return int(rows[0][0]) if rows else 0

    def mark_delivered(self, sender: str, upto: int) -> None:
        upto = min(upto, self.last_id(sender))
        self._query(
            "storing a delivery cursor",
            "INSERT INTO mailbox_delivered (box, sender, upto) VALUES (%s, %s, %s) ON CONFLICT (box, sender)"
            " DO UPDATE SET upto = GREATEST(mailbox_delivered.upto, EXCLUDED.upto) RETURNING upto",
            (self.box, sender, upto),
        )

    def take_undelivered(self, sender: str) -> list[dict[str, Any]]:
        """The messages not handed out yet, oldest first; they count as handed out now."""
        try:
            conn = self._connection()
            with conn.transaction():
                conn.execute(
                    "INSERT INTO mailbox_delivered (box, sender, upto) VALUES (%s, %s, 0) ON CONFLICT DO NOTHING",
                    (self.box, sender),
                )
                done = conn.execute(
                    "SELECT upto FROM mailbox_delivered WHERE box = %s AND sender = %s FOR UPDATE", (self.box, sender)
                ).fetchone()[0]
                rows = conn.execute(
                    "SELECT id, data FROM mailbox_events WHERE box = %s AND sender = %s AND id > %s"
                    " ORDER BY id LIMIT %s",
                    (self.box, sender, done, self.history_events),
                ).fetchall()
                if rows:
                    conn.execute(
                        "UPDATE mailbox_delivered SET upto = %s WHERE box = %s AND sender = %s",
                        (rows[-1][0], self.box, sender),
                    )
        except Exception:
            logger.exception("%s: PostgreSQL error while taking messages.", self.label)
            return []
        return [json.loads(r[1]) for r in rows]


def shared_class(mailbox_class: type[Mailbox]) -> type[PgMailbox]:
    """The PostgreSQL counterpart of a mailbox class (the web chat's, or the REST outbox)."""
    return PgOutbox if getattr(mailbox_class, "kind", "webchat") == "rest" else PgMailbox
