"""The agent console's view of replies that did not reach a citizen (Zalo/Messenger refused them, or
stayed down through every retry): the list, and the ones of one conversation (bot/channels/outbox.py
writes them, handoff/tables/deliveries.py keeps them)."""

from __future__ import annotations

import json as jsonlib
from typing import Any

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

from core.privacy import mask_pii


def _row(row: dict) -> dict:
    try:
        message = jsonlib.loads(row["body"] or "{}").get("message") or {}
    except ValueError:
        message = {}
    text = message.get("text") if isinstance(message, dict) else None
    return {
        "id": row["id"],
        "channel": row["channel"],
        "sender": mask_pii(row["recipient"]),
        "created_at": row["created_at"],
        "failed_at": row["done_at"],
        "attempts": row["attempts"],
        "status": row["last_status"],
        "error": row["last_error"] or "",
        "text": mask_pii(str(text))[:300] if text else "",
    }


def register_delivery_routes(api: Any, app: Sanic) -> None:
    """Add /deliveries and /conversations/<id>/deliveries to ``app`` (``api``: the handoff.server.Api)."""

    @api.route(app, "/deliveries", ["GET"])
    async def deliveries(request: Request) -> HTTPResponse:
        rows = await api.db(api.store.deliveries, "failed", 100)
        counts = await api.db(api.store.delivery_counts)
        return json(
            {"failed": [_row(r) for r in rows], "counts": counts},
            headers={"Cache-Control": "no-store"},
        )

    @api.route(app, "/conversations/<handoff_id:str>/deliveries", ["GET"])
    async def conversation_deliveries(request: Request, handoff_id: str) -> HTTPResponse:
        handoff = await api.load_for_agent(request, handoff_id, need_claim=False)
        if isinstance(handoff, HTTPResponse):
            return handoff
        rows = await api.db(api.store.deliveries, "failed", 20, handoff["sender_id"])
        pending = await api.db(api.store.deliveries, "pending", 20, handoff["sender_id"])
        return json(
            {"failed": [_row(r) for r in rows], "pending": len(pending)},
            headers={"Cache-Control": "no-store"},
        )
