"""The agent console's callback routes: the open call-back requests (the phone masked unless a supervisor or
the agent holding the citizen's handoff asks to see it; audited), and marking one done."""

from __future__ import annotations

from typing import Any

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

from core.privacy import mask_pii
from handoff.account_routes import error_response


def register_callback_routes(api: Any, app: Sanic) -> None:
    """Add /callbacks and /callbacks/<id>/done to ``app`` (``api``: the handoff.server.Api)."""

    @api.route(app, "/callbacks", ["GET"])
    async def callbacks(request: Request) -> HTTPResponse:
        reveal = request.args.get("reveal", "").lower() in ("1", "true", "yes")
        agent = request.ctx.agent
        rows = await api.db(api.store.list_callbacks, "open")

        def may_see(row: dict) -> bool:  # a supervisor, or the agent holding the citizen's handoff
            return agent.get("role") == "supervisor" or (
                row.get("handoff_status") == "claimed" and row.get("handoff_claimed_by") == agent["id"]
            )

        shown = {r["id"] for r in rows if reveal and may_see(r)}
        if shown:
            await api.db(
                api.store.audit, agent["id"], "reveal_callbacks", None, ",".join(str(i) for i in sorted(shown))
            )
        return json(
            {
                "callbacks": [
                    {
                        "id": r["id"],
                        "name": r["name"],
                        "phone": (r["phone"] or "") if r["id"] in shown else mask_pii(r["phone"]),
                        "masked": r["id"] not in shown,
                        "channel": r["channel"],
                        "created_at": r["created_at"],
                        "handoff_id": r["handoff_id"],
                    }
                    for r in rows
                ],
                "masked": len(shown) < len(rows),
            },
            headers={"Cache-Control": "no-store"},
        )

    @api.route(app, "/callbacks/<callback_id:int>/done", ["POST"])
    async def callback_done(request: Request, callback_id: int) -> HTTPResponse:
        if not await api.db(api.store.finish_callback, callback_id, request.ctx.agent["id"]):
            return error_response(409, "conflict", "Yêu cầu này đã được xử lý hoặc không tồn tại.")
        return json({"ok": True})
