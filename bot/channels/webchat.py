"""Web chat widget channel for Rasa: send + long-poll, with a persistent mailbox.

credentials.yml::

    bot.channels.webchat.WebChatInput:
      db_path: var/webchat.sqlite3   # or env WEBCHAT_DB; ":memory:" = memory only
      memory_events: 200             # events kept in memory per sender
      history_events: 1000           # events kept in SQLite per sender
      max_senders: 10000             # senders kept in memory (least recently used dropped)
      retention_days: 30             # events older than this are deleted at start-up

Every key is optional.

Endpoints (under ``/webhooks/webchat``):

* ``POST /session`` -> ``200 {"sender": "w-...", "token": "..."}``: a new conversation, issued by
  the server and bound to the browser by its token (``webchat_auth``). Every send and poll
  carries the token in the ``X-Webchat-Token`` header; a missing or wrong one -> ``403``.
  Rate-limited per client (``guard``: new conversations -> ``429``).
* ``POST /send`` ``{"sender": "...", "message": "...", "client_msg_id": "...",
  "display": "..."}`` -> ``202`` (``application/json`` only -> else ``415``; at most 64 KiB ->
  else ``413``; sends and ``/request_human`` buttons rate-limited per client -> ``429``).
  The message is echoed into the sender's mailbox
  (as ``display`` when given: the title of a tapped button) and handled in the
  background; every bot message is appended to the mailbox. A send retried with
  the same ``client_msg_id`` (after a dropped connection) is processed once.
  Passwords, OTPs and passcodes in ``message`` and ``display`` are replaced by
  ``[đã ẩn]`` first (``privacy.redact_user_text``; ``/intent`` payloads pass
  unchanged), so neither the mailbox nor Rasa ever holds them; the message's
  metadata then has ``"redacted": true``.
* ``GET /poll?sender=...&after=<last id>&wait=25&busy=0|1`` -> events with
  ``id > after`` (waiting up to ``wait`` seconds, at most 30, for new ones), the
  mailbox's ``last_id``, ``busy`` (the bot is still working on this sender's
  messages; the poll also returns early when that differs from ``busy``) and the
  store's ``epoch`` (changes if the store was wiped: the client then restarts at 0).
* ``GET /widget.js``, ``GET /widget.css`` (files in ``webchat_static/``) and
  ``GET /demo`` (a portal-like page embedding the widget).

Events: ``{"id": 3, "ts": 1718000000.0, "type": "user" | "bot" | "agent",
"text": "...", "buttons": [{"title": ..., "payload": ...} | {"title": ..., "url":
...}], "image": "https://...", "client_msg_id": "..."}`` (keys only when present).
Ids increase per sender. The client re-polls with the last id it rendered, so no
event is lost or shown twice across reconnects, reloads and server restarts.

``get_output_channel()`` writes into the same mailboxes, so messages Rasa sends
out of band (``POST /conversations/{id}/execute?output_channel=webchat``, a human
agent's console) reach the widget too. Custom payloads: ``{"dvc": ...}`` (decision
metadata) is never shown; ``{"human_agent": true, "text": ...}`` is shown as a
message from a "Tổng đài viên".
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import config, guard
from bot.channels.delivery import LRUSet
from bot.channels.http_utils import json_error
from bot.channels.messages import WEBCHAT_ERROR_REPLY, WIDGET_TITLE
from bot.channels.mailbox import MAX_EVENTS_PER_POLL, BadRequest, MailboxConfig, long_poll, poll_window
from bot.channels.tasks import BackgroundTasks
from bot.channels.webchat_auth import TOKEN_HEADER, Binder, allowed_origins, cors_headers
from bot.channels.webchat_output import CHANNEL_NAME, WebChatOutput
from core.net import client_address
from core.privacy import mark_redacted, redact_user_text
from core.settings import parse_bool

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("webchat_static")

MAX_MESSAGE_CHARS = 5000
MAX_BODY_BYTES = 64 * 1024
MAX_WAIT_SECONDS = 30.0
MAX_PENDING_PER_SENDER = 20
# A message sent again (same client_msg_id) that another server, or this one before a restart,
# accepted this long ago and that no bot or agent message has followed was lost with the server
# that took it: it is processed again (at least once rather than never).
REPROCESS_AFTER_SECONDS = 45.0
# ... and not older than this (the citizen has moved on; messages from before handled were recorded).
REPROCESS_WITHIN_SECONDS = 600.0
# Client-generated ids: the widget uses "w-" + 32 hex digits. Rasa conversation
# ids used for out-of-band messages are not checked against this.
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")

ERROR_REPLY = WEBCHAT_ERROR_REPLY

_STATIC_TYPES = {
    "widget.js": "application/javascript; charset=utf-8",
    "widget.css": "text/css; charset=utf-8",
    "demo.css": "text/css; charset=utf-8",
}


# --------------------------------------------------------------------------- #
# Configuration
# --------------------------------------------------------------------------- #


@dataclass
class WebChatConfig(MailboxConfig):
    dedup_capacity: int = config.DEFAULT_DEDUP_CAPACITY


# --------------------------------------------------------------------------- #
# Static files
# --------------------------------------------------------------------------- #

DEMO_CONFIG_SCRIPT = f'window.TroLyDVC = {{server: "", title: "{WIDGET_TITLE}"}};'


def _csp() -> str:
    digest = hashlib.sha256(DEMO_CONFIG_SCRIPT.encode("utf-8")).digest()
    script_hash = "sha256-" + base64.b64encode(digest).decode("ascii")
    return (
        "default-src 'self'; "
        f"script-src 'self' '{script_hash}'; "
        "style-src 'self'; img-src 'self' https: data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"
    )


def _log_lost(sender: str, echo: Mapping[str, Any]) -> None:
    logger.warning(
        "Web chat: message %s of %s was accepted %.0f s ago and never answered (the server that took it "
        "stopped?); processing it again.",
        echo.get("client_msg_id"),
        sender,
        time.time() - float(echo.get("ts") or 0),
    )


def _static_response(name: str) -> HTTPResponse:
    path = STATIC_DIR / name
    try:
        body = path.read_text(encoding="utf-8")
    except OSError:
        logger.error("Web chat: static file %s is missing.", path)
        return json_error(404, "not_found", "File not found.")
    content_type = _STATIC_TYPES[name]
    return response.text(
        body,
        content_type=content_type,
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


# --------------------------------------------------------------------------- #
# Input
# --------------------------------------------------------------------------- #


def _optional_id(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise BadRequest("invalid_field", f"Field '{key}' must be an id (1-128 of A-Z a-z 0-9 _ . : @ -).")
    return value


def _sender(value: Any) -> str:
    if value is None or value == "":
        raise BadRequest("missing_field", "Field 'sender' is required.")
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise BadRequest("invalid_field", "Field 'sender' must be an id (1-128 of A-Z a-z 0-9 _ . : @ -).")
    return value


def _text(body: Mapping[str, Any], key: str, required: bool) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if value is None:
        raise BadRequest("missing_field", f"Field '{key}' is required.")
    if not isinstance(value, str):
        raise BadRequest("invalid_field", f"Field '{key}' must be a string.")
    if len(value) > MAX_MESSAGE_CHARS:
        raise BadRequest("message_too_long", f"Field '{key}' is longer than {MAX_MESSAGE_CHARS} characters.")
    value = value.replace("\x00", "").strip()
    if required and not value:
        raise BadRequest("missing_field", f"Field '{key}' must not be empty.")
    return value or None


class WebChatInput(InputChannel):
    """The web chat widget's endpoints (``/webhooks/webchat/...``)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WebChatInput:
        return cls(WebChatConfig.from_credentials(credentials))

    def __init__(self, config: WebChatConfig | None = None) -> None:
        self.config = config or WebChatConfig.from_credentials(None)
        self.mailbox = self.config.open()
        self.seen = LRUSet(self.config.dedup_capacity)
        self.background = BackgroundTasks()
        self._pending: dict[str, int] = {}
        self.binder = Binder()
        self.origins = allowed_origins()
        self.limiter = guard.RateLimiter()

    def get_output_channel(self) -> WebChatOutput:
        return WebChatOutput(self.mailbox)

    async def wait_idle(self, timeout: float | None = 10.0) -> None:
        """Waits for background processing of received messages to finish."""
        await self.background.wait_idle(timeout)

    def busy(self, sender: str) -> bool:
        return self._pending.get(sender, 0) > 0

    # -- processing (background) ------------------------------------------------ #

    async def _process(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        sender: str,
        text: str,
        message_id: str | None,
        redacted: bool = False,
    ) -> None:
        metadata = {"webchat": {"client_msg_id": message_id}} if message_id else None
        try:
            await on_new_message(
                UserMessage(
                    text,
                    self.get_output_channel(),
                    sender,
                    input_channel=self.name(),
                    message_id=message_id,
                    metadata=mark_redacted(metadata, redacted),
                )
            )
        except Exception:
            logger.exception("Web chat: failed to handle a message.")
            self.mailbox.append(sender, {"type": "bot", "text": ERROR_REPLY})
        finally:
            if message_id:
                self.mailbox.mark_handled(sender, message_id)
            left = self._pending.get(sender, 1) - 1
            if left > 0:
                self._pending[sender] = left
            else:
                self._pending.pop(sender, None)
            self.mailbox.notify(sender)

    # -- request handling ------------------------------------------------------ #

    def _send(
        self,
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> HTTPResponse:
        raw = guard.check_body(request, MAX_BODY_BYTES)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("invalid_json", "Request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise BadRequest("invalid_payload", "JSON body must be an object.")
        sender = _sender(body.get("sender"))
        # Secrets are redacted before the text is stored, echoed or handed to Rasa.
        text, redacted = redact_user_text(_text(body, "message", required=True))
        display, display_redacted = redact_user_text(_text(body, "display", required=False))
        redacted = redacted or display_redacted
        client_msg_id = _optional_id(body, "client_msg_id")
        self._bound_sender(request, sender)

        lost = None
        if client_msg_id is not None:
            key = f"{sender}\x00{client_msg_id}"
            echo = None if key in self.seen else self.mailbox.find_client_msg(sender, client_msg_id)
            lost = echo if echo is not None and self._never_answered(sender, echo) else None
            if lost is None and (key in self.seen or echo is not None):
                self.seen.seen(key)
                logger.debug("Web chat: duplicate send %s from %s ignored.", client_msg_id, sender)
                return response.json(
                    {"status": "duplicate", "last_id": self.mailbox.last_id(sender)},
                    status=202,
                )
        if self._pending.get(sender, 0) >= MAX_PENDING_PER_SENDER:
            raise BadRequest("too_many_requests", "Too many messages waiting; slow down.", 429)
        client = client_address(request)
        self.limiter.hit("sender_sends", guard.sender_key(sender))
        self.limiter.hit_all(["sends", *guard.kinds_of_text(text)], client)
        if client_msg_id is not None:
            self.seen.seen(f"{sender}\x00{client_msg_id}")

        if lost is not None:
            _log_lost(sender, lost)
            echo = lost
        else:
            echo = self.mailbox.append(
                sender,
                {"type": "user", "text": display or text, "client_msg_id": client_msg_id},
            )
        self._submit(on_new_message, sender, text, client_msg_id, redacted)
        return response.json({"status": "accepted", "id": echo["id"]}, status=202)

    def _recover_lost(self, sender: str, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """The widget stops resending a message once it sees its echo; if the server that accepted it
        died before answering, the conversation's last event stays that echo. A poll finding it
        unanswered after :data:`REPROCESS_AFTER_SECONDS`, and not being handled here, processes it
        (its text as the citizen saw it: a button's title rather than its payload)."""
        if self.busy(sender):
            return
        echo = self.mailbox.last_event(sender)
        if not echo or echo.get("type") != "user" or not echo.get("client_msg_id"):
            return
        key = f"{sender}\x00{echo['client_msg_id']}"
        if key in self.seen or not self._never_answered(sender, echo):
            return
        self.seen.seen(key)
        _log_lost(sender, echo)
        self._submit(on_new_message, sender, str(echo.get("text") or ""), echo["client_msg_id"])

    def _submit(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        sender: str,
        text: str,
        client_msg_id: str | None,
        redacted: bool = False,
    ) -> None:
        """Counts the message as pending and hands it to the bot in the background, in order."""
        self._pending[sender] = self._pending.get(sender, 0) + 1
        self.background.submit(
            sender,
            lambda: self._process(on_new_message, sender, text, client_msg_id, redacted),
            "web chat message",
        )

    def _never_answered(self, sender: str, echo: dict[str, Any]) -> bool:
        """True if ``echo`` (a citizen's message another server or an earlier run accepted) is between
        :data:`REPROCESS_AFTER_SECONDS` and :data:`REPROCESS_WITHIN_SECONDS` old, never went through the
        bot (``mark_handled`` after processing) and no bot or agent message came after it."""
        age = time.time() - float(echo.get("ts") or 0)
        if not REPROCESS_AFTER_SECONDS <= age <= REPROCESS_WITHIN_SECONDS:
            return False
        if self.mailbox.was_handled(sender, str(echo.get("client_msg_id"))):
            return False  # it went through the bot: an agent may simply not have answered yet
        after = self.mailbox.events_after(sender, int(echo["id"]), limit=MAX_EVENTS_PER_POLL)
        return not any(e.get("type") in ("bot", "agent") for e in after)

    def _bound_sender(self, request: Request, value: Any) -> str:
        """The conversation id, if the request carries the token this server issued with it."""
        sender = _sender(value)
        if not self.binder.valid(sender, request.headers.get(TOKEN_HEADER)):
            raise BadRequest("forbidden", "Unknown conversation or wrong token: start a new one.", 403)
        return sender

    def _session(self, request: Request) -> HTTPResponse:
        self.limiter.hit("conversations", client_address(request))
        sender, token = self.binder.issue()
        return response.json({"sender": sender, "token": token}, headers={"Cache-Control": "no-store"})

    async def _poll(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]] | None = None
    ) -> HTTPResponse:
        args = request.args
        sender = _sender(args.get("sender"))
        after, wait = poll_window(args, MAX_WAIT_SECONDS)
        sender = self._bound_sender(request, sender)
        if on_new_message is not None:
            self._recover_lost(sender, on_new_message)
        client_busy = parse_bool(args.get("busy"), default=None)
        epoch = args.get("epoch")

        seen = {"busy": False}

        def changed() -> bool:  # the bot started or stopped working, or the store was wiped: tell now
            seen["busy"] = busy = self.busy(sender)
            return (client_busy is not None and client_busy != busy) or bool(epoch and epoch != self.mailbox.epoch)

        events = await long_poll(self.mailbox, sender, after, wait, MAX_EVENTS_PER_POLL + 1, changed)
        busy = seen["busy"]
        return response.json(
            {
                "events": events[:MAX_EVENTS_PER_POLL],
                "more": len(events) > MAX_EVENTS_PER_POLL,
                "last_id": self.mailbox.last_id(sender),
                "busy": busy,
                "epoch": self.mailbox.epoch,
            },
            headers={"Cache-Control": "no-store"},
        )

    # -- blueprint -------------------------------------------------------------- #

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webchat = Blueprint("webchat_webhook", __name__)

        def bad(request: Request, exc: BadRequest | guard.Rejected) -> HTTPResponse:
            logger.warning("Web chat %s %s: %s (%s).", request.method, request.path, exc.error, exc.message)
            resp = json_error(exc.status, exc.error, exc.message)
            if isinstance(exc, guard.Rejected):
                resp.headers.update(exc.headers())
            return resp

        @webchat.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok", "channel": CHANNEL_NAME})

        @webchat.middleware("response")
        async def cors(request: Request, resp: HTTPResponse) -> None:
            # also on preflights that Rasa's CORS extension answered before our route (it has no origins)
            preflight = request.method == "OPTIONS"
            headers = cors_headers(request.headers.get("origin"), self.origins, preflight=preflight)
            resp.headers.update(headers)
            if preflight and headers:
                resp.status = 204

        async def preflight(request: Request) -> HTTPResponse:
            headers = cors_headers(request.headers.get("origin"), self.origins, preflight=True)
            return response.empty(status=204 if headers else 403, headers=headers)

        for path in ("session", "send", "poll"):
            webchat.add_route(preflight, f"/{path}", methods=["OPTIONS"], name=f"preflight_{path}")

        @webchat.route("/session", methods=["POST"])
        async def session(request: Request) -> HTTPResponse:
            try:
                return self._session(request)
            except guard.Rejected as exc:
                return bad(request, exc)

        @webchat.route("/send", methods=["POST"])
        async def send(request: Request) -> HTTPResponse:
            try:
                return self._send(request, on_new_message)
            except (BadRequest, guard.Rejected) as exc:
                return bad(request, exc)
            except Exception:  # pragma: no cover - last line of defence
                logger.exception("Web chat: unexpected error in /send.")
                return json_error(400, "bad_request", "Could not process the message.")

        @webchat.route("/poll", methods=["GET"])
        async def poll(request: Request) -> HTTPResponse:
            try:
                return await self._poll(request, on_new_message)
            except BadRequest as exc:
                return bad(request, exc)
            except asyncio.CancelledError:
                raise
            except Exception:  # pragma: no cover - last line of defence
                logger.exception("Web chat: unexpected error in /poll.")
                return json_error(400, "bad_request", "Could not read the messages.")

        @webchat.route("/widget.js", methods=["GET"])
        async def widget_js(request: Request) -> HTTPResponse:
            return _static_response("widget.js")

        @webchat.route("/widget.css", methods=["GET"])
        async def widget_css(request: Request) -> HTTPResponse:
            return _static_response("widget.css")

        @webchat.route("/demo.css", methods=["GET"])
        async def demo_css(request: Request) -> HTTPResponse:
            return _static_response("demo.css")

        @webchat.route("/demo", methods=["GET"])
        async def demo(request: Request) -> HTTPResponse:
            return response.html(
                (STATIC_DIR / "demo.html").read_text(encoding="utf-8").replace("__CONFIG__", DEMO_CONFIG_SCRIPT),
                headers={
                    "Content-Security-Policy": _csp(),
                    "Cache-Control": "no-cache",
                    "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin",
                },
            )

        return webchat
