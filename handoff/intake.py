"""What the action server does when a conversation is handed off: record it, queue it or not.

Plain data in (sender, channel, tracker events), no rasa_sdk types, so it is easy to test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from handoff import transcript as tr
from handoff.config import HandoffConfig
from handoff.store import Store

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    status: str  # "queued" | "offline"
    why: str  # "queued" | "existing" | "closed_hours" | "no_agent"
    handoff: dict
    position: int = 0


def open_handoff(
    store: Store,
    config: HandoffConfig,
    *,
    sender_id: str,
    channel: str | None,
    events: list[dict],
    latest_message: dict | None,
    slots: dict | None,
    reason: str,
    titles: Callable[[str], str | None] | None = None,
    now: float | None = None,
) -> Outcome:
    """Create the handoff record; queue it when it is working time and an agent is online.

    Raises ``StoreError`` (or the driver's error) when the database cannot be used: the caller
    then gives the citizen the hotline number instead.
    """
    now = time.time() if now is None else now
    within = config.schedule.is_open(datetime.fromtimestamp(now, tz=timezone.utc))
    online = store.online_agents(config.agent_online_seconds, now) if within else 0
    status = "queued" if within and online > 0 else "offline"
    why = "queued" if status == "queued" else ("closed_hours" if not within else "no_agent")
    understanding = tr.understanding(events, latest_message, slots, titles)
    understanding["reason"] = reason
    messages = tr.transcript(events)
    last_ts = max([float(e.get("timestamp") or 0) for e in events] + [0.0])
    record = store.create_handoff(
        sender_id, channel, reason, understanding, messages, status=status, now=now, synced_until=last_ts or None
    )
    if record.get("existing"):
        why = "existing"
    log.info(
        "handoff %s sender=%s channel=%s status=%s (%s) position=%s",
        record["id"],
        sender_id,
        channel,
        record["status"],
        why,
        record.get("position"),
    )
    return Outcome(
        status=record["status"] if record["status"] in ("queued", "claimed") else "offline",
        why=why,
        handoff=record,
        position=int(record.get("position") or 0),
    )
