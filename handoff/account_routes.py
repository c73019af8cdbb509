"""The agent console's account routes: log in (rate-limited, constant work for unknown names), log out,
who am I, heartbeat (an agent is online while the console sends them)."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from typing import Any

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

from handoff.passwords import hash_password, needs_rehash, verify_password

log = logging.getLogger("handoff.server")

COOKIE = "handoff_session"


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> HTTPResponse:
    return json({"error": code, "message": message}, status=status, headers=headers)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def register_account_routes(api: Any, app: Sanic) -> None:
    """Add /login, /logout, /me and /heartbeat to ``app`` (``api``: the handoff.server.Api)."""

    @api.route(app, "/login", ["POST"], public=True)
    async def login(request: Request) -> HTTPResponse:
        data = api.body(request)
        username = str(data.get("username") or "").strip().lower()[:64]
        password = data.get("password")
        if not username or not isinstance(password, str) or not password or len(password) > 1024:
            return error_response(400, "bad_request", "Cần tên đăng nhập và mật khẩu.")
        ip = api.client_ip(request)
        now = time.time()
        limits = [
            ("user_ip", f"{username}|{ip}", api.config.login_max_failures),
            ("ip", ip, api.config.login_max_failures_per_ip),
        ]
        # check and count in one transaction, before the slow hash: concurrent guesses queue here
        wait, attempt = await api.db(api.store.login_attempt, limits, api.config.login_window_seconds)
        if wait:
            log.warning("login rate limit reached (an address or an address + username)")
            return error_response(
                429,
                "too_many_attempts",
                f"Sai quá nhiều lần. Thử lại sau {int(wait)} giây.",
                headers={"Retry-After": str(int(wait))},
            )
        agent = await api.db(api.store.agent_by_username, username)
        stored = agent["password_hash"] if agent and not agent["disabled"] else None
        ok = await api.hash_work(verify_password, password, stored)
        if not ok:
            await api.db(api.store.audit, agent["id"] if agent else None, "login_failed", None, ip)
            return error_response(401, "invalid_credentials", "Sai tên đăng nhập hoặc mật khẩu.")
        await api.db(api.store.login_succeeded, attempt)
        if needs_rehash(stored):
            await api.db(api.store.rehash_password, agent["id"], await api.hash_work(hash_password, password))
        token = secrets.token_urlsafe(32)
        expires = now + min(api.config.idle_minutes * 60, api.config.session_hours * 3600)
        await api.db(api.store.create_session, agent["id"], token_hash(token), expires, ip)
        await api.db(api.store.heartbeat, agent["id"])
        response = json(
            {
                "agent": {"username": agent["username"], "display_name": agent["display_name"]},
                "token": token,
                "expires_at": expires,
            }
        )
        response.add_cookie(
            COOKIE,
            token,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=api.cookie_secure(request),
            max_age=int(api.config.session_hours * 3600),
        )
        return response

    @api.route(app, "/logout", ["POST"])
    async def logout(request: Request) -> HTTPResponse:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)
        if token:
            await api.db(api.store.delete_session, token_hash(token))
        await api.db(api.store.clear_heartbeat, request.ctx.agent["id"])
        response = json({"ok": True})
        response.delete_cookie(COOKIE, path="/")
        return response

    @api.route(app, "/me", ["GET"])
    async def me(request: Request) -> HTTPResponse:
        agent = request.ctx.agent
        return json({"username": agent["username"], "display_name": agent["display_name"]})

    @api.route(app, "/heartbeat", ["POST"])
    async def heartbeat(request: Request) -> HTTPResponse:
        await api.db(api.store.heartbeat, request.ctx.agent["id"])
        online = await api.db(api.store.online_agents, api.config.agent_online_seconds)
        return json(
            {
                "online_agents": online,
                "working_hours": api.config.schedule.describe_vi(),
                "open_now": api.config.schedule.is_open(),
            }
        )
