"""The handoff store: handoffs, their messages, agents, sessions, callback requests, audit log, and
the ``interactions`` the bot decided (answered, clarified, abstained, handed off, feedback) for
``python -m insights.report`` (docs/insights.md).

One schema, two backends (SQLite by default, PostgreSQL with HANDOFF_DATABASE_URL), behind one
connection and transaction layer (handoff/database.py). Each table's statements live with its owner:
handoff/tables/handoffs.py (handoffs, messages), handoff/tables/agents.py (agents, sessions, login
failures, audit), handoff/tables/callbacks.py, handoff/tables/deliveries.py (replies waiting for Zalo/Messenger),
insights/interactions.py (interactions).
"""

from __future__ import annotations

import threading
import time

from handoff.database import Database, StoreError
from handoff.tables import agents, callbacks, deliveries, handoffs
from handoff.tables.agents import AgentsTable
from handoff.tables.callbacks import CallbacksTable
from handoff.tables.deliveries import DeliveriesTable
from handoff.tables.handoffs import OPEN_STATUSES, HandoffsTable
from insights import interactions
from insights.interactions import InteractionsTable

__all__ = ["OPEN_STATUSES", "Store", "StoreError", "get_store"]


class Store(Database, HandoffsTable, AgentsTable, CallbacksTable, DeliveriesTable, InteractionsTable):
    """Every table of the handoff database, on one connection per thread."""

    SCHEMAS = (agents.SCHEMA, handoffs.SCHEMA, callbacks.SCHEMA, deliveries.SCHEMA, interactions.SCHEMA)

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
                (before, before),
            )
            counts["handoffs"] = db.run(
                "DELETE FROM handoffs WHERE status NOT IN ('queued', 'claimed') AND updated_at < ?", (before,)
            )
            counts["interactions"] = db.run("DELETE FROM interactions WHERE ts < ?", (before,))
            counts["deliveries"] = db.run(
                "DELETE FROM deliveries WHERE state <> 'pending' AND created_at < ?", (before,)
            )
            counts["sessions"] = db.run("DELETE FROM sessions WHERE expires_at < ?", (time.time(),))
            counts["login_failures"] = db.run("DELETE FROM login_failures WHERE ts < ?", (before,))
            if audit_before is not None:
                counts["audit"] = db.run("DELETE FROM audit WHERE ts < ?", (audit_before,))
        return counts


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def get_store(url: str | None = None) -> Store:
    """The process-wide store for ``url`` (default: from the environment). Opens nothing yet."""
    if url is None:
        from handoff.config import database_url

        url = database_url()
    with _stores_lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = Store(url)
        return store
