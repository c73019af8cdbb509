"""Agent API and console: ``python -m handoff.server`` (127.0.0.1:5080, HANDOFF_PORT).

* ``/api/...``  JSON API (handoff/openapi.py; served at /api/openapi.json). Every route but
  ``POST /api/login`` answers 401 without a valid session (HttpOnly cookie ``handoff_session`` or
  ``Authorization: Bearer <token>``). State-changing requests made with the cookie must carry
  ``X-Requested-With: handoff-console`` (a cross-site form cannot), on top of SameSite=Strict.
* ``/console``  the single-page console (handoff/console/), ``/health`` for process supervisors.

The process keeps no state of its own: sessions, rate-limit counters, handoffs and messages are in
the store, so a restart loses nothing.

Logins: wrong attempts are counted per (username, address) and per address, in one transaction with
the check (``Store.login_attempt``), so concurrent guesses cannot slip past the limit, and a stranger's
wrong guesses from another address never lock an agent out. The address is the peer's, or the entry a
proxy listed in ``HANDOFF_TRUSTED_PROXIES`` appended to X-Forwarded-For. Sessions end after
``HANDOFF_IDLE_MINUTES`` unused and ``HANDOFF_SESSION_HOURS`` at most; the cookie is ``Secure`` except
over plain HTTP to localhost. Full call-back numbers: only for the agent who holds the citizen's
handoff, or a supervisor (``python -m handoff.admin set-role <name> supervisor``).
Once a day the server deletes what is older than ``DVC_RETENTION_DAYS`` (``Store.purge``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from sanic import Sanic
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse, json, redirect, text

from handoff import messages as hm
from handoff.account_routes import COOKIE, error_response, register_account_routes, token_hash
from handoff.callback_routes import register_callback_routes
from handoff import openapi
from handoff.config import HandoffConfig, load_config
from handoff.delivery_routes import register_delivery_routes
from core.net import client_address
from core.privacy import mask_pii
from handoff.rasa_client import RasaClient, RasaError, agent_reply_event, delivery_for, resume_events
from handoff.store import OPEN_STATUSES, Store
from handoff.transcript import transcript

log = logging.getLogger("handoff.server")

CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "handoff-console"
MAX_REPLY = 2000
# After a claim, this many citizens still waiting are told their new place in the queue.
QUEUE_NOTICE_MAX = 5
CONSOLE_DIR = Path(__file__).with_name("console")
STATIC = {"app.js": "application/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
)


class Api:
    """Route handlers; every database call runs in a worker thread (the drivers are blocking)."""

    def __init__(self, config: HandoffConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.rasa: RasaClient | None = None
        self._tasks: set[asyncio.Future] = set()
        # scrypt at N=2^17 takes 128 MiB and ~0.5 s: at most two at a time, whatever the traffic
        self._hashing: asyncio.Semaphore | None = None

    async def hash_work(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._hashing is None:
            self._hashing = asyncio.Semaphore(2)
        async with self._hashing:
            return await asyncio.to_thread(fn, *args)

    async def db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(partial(fn, *args, **kwargs))

    def spawn(self, coroutine: Awaitable[Any]) -> None:
        """Run ``coroutine`` after the response; keep a reference so it is not garbage-collected."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def notify(self, handoff: dict, text: str) -> None:
        """A bot message into the citizen's channel (the console reads it back from the tracker).
        Best effort: a failure is logged and whatever the agent did stands."""
        assert self.rasa is not None
        try:
            await self.rasa.append(handoff["sender_id"], [{"event": "bot", "text": text}], handoff.get("channel"))
        except Exception:
            log.exception("telling the citizen of %s failed", handoff["id"])

    async def tell_queue(self) -> None:
        """After a claim the queue moved: the first ``QUEUE_NOTICE_MAX`` citizens still waiting hear
        their new place."""
        try:
            waiting = await self.db(self.store.list_handoffs, ("queued",), QUEUE_NOTICE_MAX)
        except Exception:  # the claim is done; positions are a courtesy
            log.exception("reading the queue after a claim failed")
            return
        for place, handoff in enumerate(waiting, start=1):
            await self.notify(handoff, hm.position_text(place))

    def client_ip(self, request: Request) -> str:
        return client_address(request, self.config.trusted_proxies)

    def cookie_secure(self, request: Request) -> bool:
        """Secure unless configured off, or plain HTTP straight to localhost (``make run``)."""
        if self.config.cookie_secure is not None:
            return self.config.cookie_secure
        host = (request.host or "").rsplit(":", 1)[0].strip("[]").lower()
        forwarded_https = request.headers.get("x-forwarded-proto", "").lower() == "https"
        return not (request.scheme == "http" and not forwarded_https and host in ("localhost", "127.0.0.1", "::1"))

    async def authenticate(self, request: Request) -> tuple[dict | None, bool]:
        header = request.headers.get("authorization", "")
        via_cookie = False
        token = None
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
        else:
            token = request.cookies.get(COOKIE)
            via_cookie = token is not None
        if not token or len(token) > 200:
            return None, via_cookie
        agent = await self.db(
            self.store.session_agent,
            token_hash(token),
            None,
            self.config.idle_minutes * 60,
            self.config.session_hours * 3600,
        )
        return agent, via_cookie

    def route(self, app: Sanic, path: str, methods: list[str], public: bool = False):
        def decorate(handler: Callable[..., Awaitable[HTTPResponse]]):
            async def guarded(request: Request, **kwargs: Any) -> HTTPResponse:
                if not public:
                    agent, via_cookie = await self.authenticate(request)
                    if agent is None:
                        return error_response(401, "unauthorized", "Cần đăng nhập.")
                    if (
                        via_cookie
                        and request.method not in ("GET", "HEAD")
                        and request.headers.get(CSRF_HEADER) != CSRF_VALUE
                    ):
                        return error_response(403, "csrf", f"Thiếu tiêu đề {CSRF_HEADER}: {CSRF_VALUE}.")
                    request.ctx.agent = agent
                return await handler(request, **kwargs)

            app.add_route(guarded, "/api" + path, methods=methods, name=handler.__name__)
            return handler

        return decorate

    # ------------------------------------------------------------------ helpers

    def body(self, request: Request) -> dict:
        try:
            data = request.json
        except SanicException:
            data = None
        if not isinstance(data, dict):
            raise SanicException("Nội dung yêu cầu phải là một đối tượng JSON.", status_code=400)
        return data

    async def load_for_agent(self, request: Request, handoff_id: str, need_claim: bool) -> dict | HTTPResponse:
        """The handoff, or the error response: 404, 403 (another agent's), 409 (not claimed)."""
        handoff = await self.db(self.store.get_handoff, handoff_id)
        if handoff is None:
            return error_response(404, "not_found", "Không có hội thoại này.")
        me = request.ctx.agent["id"]
        if handoff["status"] == "claimed" and handoff["claimed_by"] != me:
            owner = handoff.get("claimed_by_name") or "người khác"
            return error_response(403, "forbidden", f"Hội thoại đang do {owner} xử lý.")
        if need_claim and handoff["status"] != "claimed":
            return error_response(409, "not_claimed", "Cần nhận xử lý hội thoại này trước.")
        return handoff

    def summary(self, handoff: dict, me: int, position: int | None = None) -> dict:
        understanding = handoff.get("understanding") or {}
        mine = handoff.get("claimed_by") == me
        top = (understanding.get("top_guides") or [{}])[0] if understanding.get("top_guides") else {}
        item = {
            "id": handoff["id"],
            "status": handoff["status"],
            "channel": handoff.get("channel"),
            "sender": mask_pii(handoff["sender_id"]),
            "created_at": handoff["created_at"],
            "updated_at": handoff["updated_at"],
            "reason": handoff["reason"],
            "claimed_at": handoff.get("claimed_at"),
            "claimed_by": handoff.get("claimed_by_username"),
            "claimed_by_name": handoff.get("claimed_by_name"),
            "mine": mine,
            "delivery": delivery_for(handoff.get("channel")),
        }
        if handoff["status"] == "queued" or mine:
            item["question"] = mask_pii(understanding.get("question") or "")
            item["top_guide"] = top.get("title") or top.get("id")
        if position is not None:
            item["position"] = position
        return item

    async def sync(self, handoff: dict) -> tuple[bool | None, str | None]:
        """Copy the citizen's new messages from Rasa into the store. Returns (paused, error)."""
        assert self.rasa is not None
        try:
            tracker = await self.rasa.tracker(handoff["sender_id"])
        except RasaError as exc:
            log.warning("sync %s: %s", handoff["id"], exc)
            return None, str(exc)
        events = [e for e in tracker.get("events") or [] if isinstance(e, dict)]
        new = transcript(events, after=float(handoff.get("synced_until") or 0), include_agent=False)
        latest = max([float(e.get("timestamp") or 0) for e in events] + [0.0])
        if new or latest > float(handoff.get("synced_until") or 0):
            await self.db(self.store.add_messages, handoff["id"], new, synced_until=latest)
        return bool(tracker.get("paused")), None

    # ------------------------------------------------------------------ routes

    def register(self, app: Sanic) -> None:  # one place that lists every route
        api = self

        register_account_routes(api, app)
        register_delivery_routes(api, app)

        @api.route(app, "/queue", ["GET"])
        async def queue(request: Request) -> HTTPResponse:
            me_id = request.ctx.agent["id"]
            rows = await api.db(api.store.list_handoffs, OPEN_STATUSES)
            queued = [r for r in rows if r["status"] == "queued"]
            claimed = [r for r in rows if r["status"] == "claimed"]
            callbacks = await api.db(api.store.list_callbacks, "open")
            return json(
                {
                    "queued": [api.summary(r, me_id, i + 1) for i, r in enumerate(queued)],
                    "mine": [api.summary(r, me_id) for r in claimed if r["claimed_by"] == me_id],
                    "others": [api.summary(r, me_id) for r in claimed if r["claimed_by"] != me_id],
                    "callbacks_open": len(callbacks),
                    "now": time.time(),
                },
                headers={"Cache-Control": "no-store"},
            )

        @api.route(app, "/conversations/<handoff_id:str>", ["GET"])
        async def conversation(request: Request, handoff_id: str) -> HTTPResponse:
            handoff = await api.load_for_agent(request, handoff_id, need_claim=False)
            if isinstance(handoff, HTTPResponse):
                return handoff
            me_id = request.ctx.agent["id"]
            reveal = request.args.get("reveal", "").lower() in ("1", "true", "yes")
            if reveal and not (handoff["status"] == "claimed" and handoff["claimed_by"] == me_id):
                return error_response(403, "forbidden", "Chỉ người đang xử lý mới xem được số đầy đủ.")
            paused, rasa_error = (None, None)
            if handoff["status"] in OPEN_STATUSES:
                paused, rasa_error = await api.sync(handoff)
            if reveal:
                await api.db(api.store.audit, me_id, "reveal", handoff_id, None)
            show = (lambda s: s or "") if reveal else mask_pii
            understanding = dict(handoff.get("understanding") or {})
            if understanding.get("question"):
                understanding["question"] = show(understanding["question"])
            messages = await api.db(api.store.messages, handoff_id)
            return json(
                {
                    "conversation": {
                        **api.summary(handoff, me_id),
                        "sender": show(handoff["sender_id"]),
                        "closed_at": handoff.get("closed_at"),
                        "paused": paused,
                        "rasa_error": rasa_error,
                        "position": await api.db(api.store.queue_position, handoff_id),
                    },
                    "understanding": understanding,
                    "messages": [{**m, "text": show(m["text"])} for m in messages],
                    "masked": not reveal,
                },
                headers={"Cache-Control": "no-store"},
            )

        @api.route(app, "/conversations/<handoff_id:str>/claim", ["POST"])
        async def claim(request: Request, handoff_id: str) -> HTTPResponse:
            handoff = await api.load_for_agent(request, handoff_id, need_claim=False)
            if isinstance(handoff, HTTPResponse):
                if handoff.status == 403:  # someone else has it: for a claim that is a conflict
                    return error_response(409, "already_claimed", "Hội thoại đã có người nhận.")
                return handoff
            me_id = request.ctx.agent["id"]
            if handoff["status"] == "claimed":  # already mine
                return json({"ok": True, "already": True})
            if not await api.db(api.store.claim, handoff_id, me_id):
                return error_response(
                    409, "already_claimed", "Hội thoại đã có người nhận hoặc không còn trong hàng chờ."
                )
            await api.notify(handoff, hm.CLAIMED_TEXT)  # before any reply of the agent's
            api.spawn(api.tell_queue())
            return json({"ok": True})

        async def reply_to_rasa(handoff: dict, events: list[dict]) -> HTTPResponse | None:
            assert api.rasa is not None
            try:
                await api.rasa.append(handoff["sender_id"], events, handoff.get("channel"))
            except RasaError as exc:
                log.error("writing into %s failed: %s", handoff["id"], exc)
                return error_response(502, "rasa_unavailable", "Không gửi được qua máy chủ trợ lý ảo; hãy thử lại.")
            return None

        @api.route(app, "/conversations/<handoff_id:str>/reply", ["POST"])
        async def reply(request: Request, handoff_id: str) -> HTTPResponse:
            handoff = await api.load_for_agent(request, handoff_id, need_claim=True)
            if isinstance(handoff, HTTPResponse):
                return handoff
            message = str(api.body(request).get("text") or "").strip()
            if not message or len(message) > MAX_REPLY:
                return error_response(400, "bad_request", f"Nội dung trả lời cần từ 1 đến {MAX_REPLY} ký tự.")
            failed = await reply_to_rasa(handoff, [agent_reply_event(message)])
            if failed:
                return failed
            delivery = delivery_for(handoff.get("channel"))
            me_id = request.ctx.agent["id"]
            await api.db(
                api.store.add_messages,
                handoff_id,
                [{"ts": time.time(), "role": "agent", "text": message, "agent_id": me_id, "delivery": delivery}],
            )
            await api.db(api.store.audit, me_id, "reply", handoff_id, delivery)
            return json({"ok": True, "delivery": delivery})

        async def finish(request: Request, handoff_id: str, status: str) -> HTTPResponse:
            handoff = await api.load_for_agent(request, handoff_id, need_claim=True)
            if isinstance(handoff, HTTPResponse):
                return handoff
            utterance, said = (
                ("utter_handoff_closed", hm.CLOSED_TEXT)
                if status == "closed"
                else ("utter_handoff_returned", hm.RETURNED_TEXT)
            )
            await api.sync(handoff)  # keep the citizen's last messages
            failed = await reply_to_rasa(handoff, resume_events(utterance, said))
            if failed:
                return failed
            if not await api.db(api.store.finish, handoff_id, request.ctx.agent["id"], status):
                return error_response(409, "conflict", "Hội thoại vừa thay đổi trạng thái.")
            await api.db(api.store.add_messages, handoff_id, [{"ts": time.time(), "role": "system", "text": said}])
            return json({"ok": True, "status": status})

        @api.route(app, "/conversations/<handoff_id:str>/close", ["POST"])
        async def close(request: Request, handoff_id: str) -> HTTPResponse:
            return await finish(request, handoff_id, "closed")

        @api.route(app, "/conversations/<handoff_id:str>/hand-back", ["POST"])
        async def hand_back(request: Request, handoff_id: str) -> HTTPResponse:
            return await finish(request, handoff_id, "returned")

        @api.route(app, "/conversations/<handoff_id:str>/release", ["POST"])
        async def release(request: Request, handoff_id: str) -> HTTPResponse:
            handoff = await api.load_for_agent(request, handoff_id, need_claim=True)
            if isinstance(handoff, HTTPResponse):
                return handoff
            if not await api.db(api.store.release, handoff_id, request.ctx.agent["id"]):
                return error_response(409, "conflict", "Hội thoại vừa thay đổi trạng thái.")
            return json({"ok": True})

        register_callback_routes(api, app)

        @api.route(app, "/openapi.json", ["GET"])
        async def openapi_json(request: Request) -> HTTPResponse:
            return json(openapi.spec())


def create_app(config: HandoffConfig | None = None, store: Store | None = None, name: str = "handoff") -> Sanic:
    config = config or load_config()
    store = store or Store(config.database_url)
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = 64 * 1024
    app.config.FALLBACK_ERROR_FORMAT = "json"
    api = Api(config, store)
    app.ctx.api = api
    api.register(app)

    @app.listener("before_server_start")
    async def start(app: Sanic, _loop: Any) -> None:
        api.rasa = RasaClient(config.rasa_url, config.rasa_token)
        await api.db(store.ping)  # fail at start, loudly, if the database is unusable
        log.info("handoff server: store %r, Rasa %s, hours %s", store, config.rasa_url, config.schedule.spec)

    @app.listener("after_server_stop")
    async def stop(app: Sanic, _loop: Any) -> None:
        if api.rasa is not None:
            await api.rasa.aclose()
        store.close()

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return json({"status": "ok"})

    @app.get("/")
    async def root(request: Request) -> HTTPResponse:
        return redirect("/console")

    @app.get("/console")
    async def console(request: Request) -> HTTPResponse:
        return text(
            (CONSOLE_DIR / "index.html").read_text(encoding="utf-8"),
            content_type="text/html; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    @app.get("/console/<name:str>")
    async def console_static(request: Request, name: str) -> HTTPResponse:
        if name not in STATIC:
            return error_response(404, "not_found", "Không có tệp này.")
        return text(
            (CONSOLE_DIR / name).read_text(encoding="utf-8"),
            content_type=STATIC[name],
            headers={"Cache-Control": "no-cache"},
        )

    @app.exception(SanicException)
    async def sanic_error(request: Request, exc: SanicException) -> HTTPResponse:
        status = getattr(exc, "status_code", 500) or 500
        if request.path.startswith("/api") and status in (404, 405):
            agent, _ = await api.authenticate(request)
            if agent is None:  # do not tell strangers which API paths exist
                return error_response(401, "unauthorized", "Cần đăng nhập.")
        return error_response(status, "error", str(exc) if status < 500 else "Lỗi máy chủ.")

    @app.exception(Exception)
    async def server_error(request: Request, exc: Exception) -> HTTPResponse:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "server_error", "Lỗi máy chủ.")

    @app.on_response
    async def security_headers(request: Request, response: HTTPResponse) -> None:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.path.startswith("/console"):
            response.headers["Content-Security-Policy"] = CSP
        if request.path.startswith("/api"):
            response.headers["Cache-Control"] = "no-store"

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Agent console and API for handed-off conversations")
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config()
    app = create_app(config)
    host, port = args.host or config.host, args.port or config.port
    log.info("agent console on http://%s:%d/console", host, port)
    app.run(host=host, port=port, single_process=True, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
