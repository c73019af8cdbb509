"""Rasa's socket.io channel, working with python-socketio 5.x, with secrets redacted and
conversations bound to the socket that opened them.

credentials.yml (replaces ``socketio:``; the channel is still named ``socketio`` and takes
the same keys)::

    bot.channels.socket_io.SocketIOInput:
      user_message_evt: user_uttered
      bot_message_evt: bot_uttered
      session_persistence: true

What differs from Rasa 3.6's ``SocketIOInput``:

* python-socketio 5.12+ made ``AsyncServer.enter_room`` a coroutine and Rasa calls it without
  ``await``: the socket never joined its room and got no bot message. We await it.
* ``session_request`` issues the session id: ``sio-<32 hex>.<HMAC>`` (the web chat's secret,
  ``webchat_auth``). A client may resume a session id only if it carries a valid HMAC; any
  other id (another citizen's, another channel's) is replaced by a new one. With session
  persistence a message is accepted only for the session id this socket was confirmed.
* Passwords, OTPs and passcodes in ``user_uttered`` are replaced by ``[đã ẩn]``
  (``redaction.redacting``); text longer than ``DVC_MAX_TEXT_CHARS`` is cut; messages per client
  address are rate-limited (``guard``: over the limit they are dropped, with a warning).
* CORS for the socket.io handshake only for ``WEBCHAT_ALLOWED_ORIGINS``.
"""

from __future__ import annotations

import inspect
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage, decode_bearer_token
from rasa.core.channels.socketio import SocketBlueprint, SocketIOOutput
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from core.net import client_address
from bot.channels import guard
from bot.channels.redaction import redacting
from bot.channels.webchat_auth import Binder, allowed_origins

logger = logging.getLogger(__name__)

SESSION_PREFIX = "sio-"


class SocketIOInput(RasaSocketIOInput):
    """``socketio`` that delivers bot messages with python-socketio 5.18."""

    binder = Binder(scope="socketio")

    def _session_id(self, requested: Any) -> str:
        if isinstance(requested, str) and requested.startswith(SESSION_PREFIX) and "." in requested:
            session, _, mac = requested.rpartition(".")
            if self.binder.valid(session, mac):
                return requested
        session = SESSION_PREFIX + secrets.token_hex(16)
        return f"{session}.{self.binder.token(session)}"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        on_new_message = redacting(on_new_message)
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=sorted(allowed_origins()))
        socketio_webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio
        limiter = guard.RateLimiter()
        confirmed: dict[str, str] = {}  # socket id -> its session id
        clients: dict[str, str] = {}  # socket id -> client address

        @socketio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: str, environ: dict, auth: dict | None) -> bool:
            if self.jwt_key:
                token = (auth or {}).get("token")
                if not token or not decode_bearer_token(token, self.jwt_key, self.jwt_algorithm):
                    return False
            request = environ.get("sanic.request")
            clients[sid] = client_address(request) if request is not None else "unknown"
            return True

        @sio.on("disconnect", namespace=self.namespace)
        async def disconnect(sid: str) -> None:
            confirmed.pop(sid, None)
            clients.pop(sid, None)

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: dict | None) -> None:
            data = data if isinstance(data, dict) else {}
            session_id = self._session_id(data.get("session_id"))
            if session_id != data.get("session_id"):
                try:
                    limiter.hit("conversations", clients.get(sid, "unknown"))
                except guard.Rejected:
                    logger.warning("socket.io: too many new conversations from one client.")
                    return
            data["session_id"] = session_id
            confirmed[sid] = session_id
            if self.session_persistence:
                entered = sio.enter_room(sid, session_id)
                if inspect.isawaitable(entered):  # a coroutine since python-socketio 5.12
                    await entered
            await sio.emit("session_confirm", session_id, room=sid)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: dict) -> None:
            if not isinstance(data, dict):
                return
            if self.session_persistence:
                if not data.get("session_id") or data.get("session_id") != confirmed.get(sid):
                    logger.warning("socket.io: message without this socket's session id ignored.")
                    return
                sender_id = confirmed[sid]
            else:
                sender_id = sid
            try:
                limiter.hit_all(["sends", *guard.kinds_of_text(data.get("message"))], clients.get(sid, "unknown"))
            except guard.Rejected:
                logger.warning("socket.io: a client is over its rate limit; message dropped.")
                return
            text = data.get("message", "")
            if isinstance(text, str):
                text = text[: guard.max_text_chars()]
            metadata = data.get(self.metadata_key, {})
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            output_channel = SocketIOOutput(sio, self.bot_message_evt)
            await on_new_message(
                UserMessage(text, output_channel, sender_id, input_channel=self.name(), metadata=metadata)
            )

        return socketio_webhook
