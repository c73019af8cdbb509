"""REST channel: Rasa's ``RestInput`` plus an outbox for messages pushed out of band.

credentials.yml (replaces Rasa's ``rest:``; the channel is still named ``rest``)::

    bot.channels.rest.RestInput:
      db_path: var/rest-outbox.sqlite3   # or env REST_OUTBOX_DB; ":memory:" = memory only
      memory_events: 200                 # outbox messages kept in memory per sender
      history_events: 1000               # outbox messages kept in SQLite per sender
      max_senders: 10000                 # senders kept in memory (least recently used dropped)
      retention_days: 30                 # outbox messages older than this are deleted at start-up

Every key is optional.

Endpoints (under ``/webhooks/rest``):

* ``POST /webhook`` ``{"sender": "...", "message": "...", "metadata": {...}}`` -> ``200``
  and a JSON list of messages, exactly as Rasa's REST channel (``?stream=true`` too;
  ``input_channel`` in the body is ignored: the channel is always ``rest``, so replies cannot
  be rerouted; a body that is not JSON -> 400, as Rasa; one that is JSON but not an object
  -> 400 ``invalid_payload``, where Rasa crashed with 500). Limits (``bot.channels.guard``):
  a body over 64 KiB -> 413, a Content-Type other than ``application/json`` -> 415, a
  ``message`` over ``DVC_MAX_TEXT_CHARS`` (5000) -> 400 ``message_too_long`` before NLU, a
  sender id of another channel's namespace (``w-<32 hex>`` web chat, ``zalo:``, ``messenger:``,
  ``sio-``) -> 400; sends, new sender ids and ``/request_human`` per client -> 429.
  The list **starts with the messages pushed to this sender since
  they were last handed out** (agent replies, "handoff closed / returned" notices), in
  order, each once, then the bot's replies to this message.
* ``GET /messages?sender=<id>&after=<id>&wait=<seconds>`` -> ``200 {"messages": [...],
  "last_id": N, "more": bool}``: the sender's outbox messages with ``id > after``
  (oldest first, at most 100; ``more`` if there are further ones), waiting up to
  ``wait`` seconds (at most 25, default 0) for one to arrive. ``after`` defaults to 0.
  ``after > last_id`` means the outbox was wiped: start again from 0. Messages a poll
  returns count as handed out (the next POST does not repeat them); re-reading with an
  older ``after`` is always possible. Missing ``sender``, or ``after``/``wait`` that are
  not non-negative numbers -> 400.
* ``GET /`` health, as Rasa's.

Messages have Rasa's REST shape, ``{"recipient_id", "text"?, "buttons"?, "image"?,
"attachment"?, "custom"?}``; outbox messages also have their ``id`` (increasing per
sender), and a human agent's reply has ``"custom": {"human_agent": true}``.

``get_output_channel()`` writes into the outbox, which is what makes ``POST
/conversations/{id}/tracker/events?output_channel=rest&execute_side_effects=true`` (the
agent console) and ``.../execute?output_channel=rest`` deliver. The outbox is a
:class:`bot.channels.mailbox.Mailbox` in its own SQLite file, with a ``delivered``
table holding, per sender, the last id handed out, so a restart neither re-sends nor
loses a message.

Like Rasa's, the channel has no authentication: anyone who knows a REST sender id can read
that conversation's pushed messages. Integrations must use unguessable sender ids
(e.g. 128-bit random) and keep them private; other channels' conversations are out of
reach (their ids are in namespaces this channel refuses).

Passwords, OTPs and passcodes in ``message`` are replaced by ``[đã ẩn]`` before Rasa sees
the message (``/intent`` payloads pass unchanged); the metadata then has
``"redacted": true``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from rasa.shared.constants import DEFAULT_SENDER_ID
from rasa.utils.endpoints import bool_arg
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from core.net import client_address
from bot.channels import guard
from bot.channels.delivery import LRUSet
from bot.channels.http_utils import json_error
from bot.channels.webhook import is_human_agent
from core.privacy import mark_redacted, redact_user_text
from bot.channels.mailbox import BadRequest, Mailbox, MailboxConfig, long_poll, poll_window

logger = logging.getLogger(__name__)

CHANNEL_NAME = "rest"
DEFAULT_DB_PATH = "var/rest-outbox.sqlite3"
MAX_WAIT_SECONDS = 25.0
MAX_MESSAGES_PER_POLL = 100
MAX_SENDER_CHARS = 1000
MAX_BODY_BYTES = 64 * 1024
# Sender ids of the other channels (web chat, Zalo, Messenger, socket.io): never a REST sender.
FOREIGN_SENDER = re.compile(r"^(w-[0-9a-f]{32}$|zalo:|messenger:|sio-)", re.IGNORECASE)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


# --------------------------------------------------------------------------- #
# Configuration
# --------------------------------------------------------------------------- #


@dataclass
class RestConfig(MailboxConfig):
    ENV: ClassVar[str] = "REST_OUTBOX_DB"
    DEFAULT_PATH: ClassVar[str] = DEFAULT_DB_PATH

    db_path: str | None = DEFAULT_DB_PATH


# --------------------------------------------------------------------------- #
# Outbox
# --------------------------------------------------------------------------- #


class Outbox(Mailbox):
    """A :class:`Mailbox` of pushed messages, plus "delivered up to" per sender.

    Like the mailbox, every method runs on the event loop thread without awaiting
    between reading and writing, so taking the undelivered messages is atomic: two
    concurrent requests never both get the same message.
    """

    label: ClassVar[str] = "REST outbox"
    kind: ClassVar[str] = "rest"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._delivered: OrderedDict[str, int] = OrderedDict()
        super().__init__(*args, **kwargs)

    def _open(self, db_path: str, retention_days: float) -> None:
        super()._open(db_path, retention_days)
        if self._db is None:
            return
        try:
            self._db.execute("CREATE TABLE IF NOT EXISTS delivered (sender TEXT PRIMARY KEY, upto INTEGER NOT NULL)")
            # A sender whose messages have all expired starts again at id 1: so does its cursor.
            self._db.execute("DELETE FROM delivered WHERE sender NOT IN (SELECT DISTINCT sender FROM events)")
        except sqlite3.Error:
            logger.exception("REST outbox: cannot prepare the delivery table.")

    def delivered(self, sender: str) -> int:
        """The highest id already handed out to ``sender`` (0: none)."""
        if sender in self._delivered:
            self._delivered.move_to_end(sender)
            return self._delivered[sender]
        rows = self._db_call("reading a delivery cursor", "SELECT upto FROM delivered WHERE sender = ?", (sender,))
        upto = int(rows[0][0]) if rows else 0
        self._cache_delivered(sender, upto)
        return upto

    def _cache_delivered(self, sender: str, upto: int) -> None:
        self._delivered[sender] = upto
        self._delivered.move_to_end(sender)
        while len(self._delivered) > self.max_senders:
            self._delivered.popitem(last=False)

    def _set_delivered(self, sender: str, upto: int) -> None:
        self._cache_delivered(sender, upto)
        self._db_call(
            "storing a delivery cursor",
            "INSERT OR REPLACE INTO delivered (sender, upto) VALUES (?, ?)",
            (sender, upto),
        )

    def mark_delivered(self, sender: str, upto: int) -> None:
        """Records that every message of ``sender`` up to id ``upto`` was handed out."""
        upto = min(upto, self.last_id(sender))
        if upto > self.delivered(sender):
            self._set_delivered(sender, upto)

    def _sync_cursor(self, sender: str) -> int:
        """The delivery cursor, pulled back if the outbox lost messages (wiped, evicted)."""
        last = self.last_id(sender)
        done = self.delivered(sender)
        if done > last:
            self._set_delivered(sender, last)
            return last
        return done

    def append(self, sender: str, event: Mapping[str, Any]) -> dict[str, Any]:
        # Before the new id is given: a cursor past the end would swallow the message.
        self._sync_cursor(sender)
        return super().append(sender, event)

    def take_undelivered(self, sender: str) -> list[dict[str, Any]]:
        """The messages not handed out yet, oldest first; they count as handed out now."""
        done = self._sync_cursor(sender)
        if done >= self.last_id(sender):
            return []
        events = self.events_after(sender, done, limit=self.history_events)
        if events:
            self.mark_delivered(sender, events[-1]["id"])
        return events


def public_message(event: Mapping[str, Any]) -> dict[str, Any]:
    """An outbox event as a REST message (Rasa's shape plus ``id``)."""
    return {"id": event["id"], **{k: v for k, v in event.items() if k not in ("id", "ts")}}


# --------------------------------------------------------------------------- #
# Output
# --------------------------------------------------------------------------- #


class RestOutput(CollectingOutputChannel):
    """Stores what Rasa sends out of band in the recipient's outbox.

    Messages keep the shape Rasa's ``CollectingOutputChannel`` gives them (texts are
    split at blank lines as there). A human agent's reply (``custom: {"human_agent":
    true}`` beside the text, or a custom payload ``{"human_agent": true, "text": ...}``)
    becomes one message with the text and ``"custom": {"human_agent": true}``; the
    flag on its own is not a message.
    """

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    def __init__(self, outbox: Outbox) -> None:
        super().__init__()
        self.outbox = outbox

    async def _persist_message(self, message: dict[str, Any]) -> None:
        if not any(message.get(k) for k in ("text", "image", "buttons", "attachment", "custom")):
            return
        try:
            message = json.loads(json.dumps(message, ensure_ascii=False, default=str))
        except (TypeError, ValueError):  # pragma: no cover - default=str handles nearly all
            logger.warning("REST outbox: dropping a message that cannot be stored as JSON.")
            return
        self.messages.append(message)
        self.outbox.append(str(message["recipient_id"]), message)

    @staticmethod
    def _agent_flag(kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        return {"human_agent": True} if is_human_agent(kwargs) else None

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        custom = self._agent_flag(kwargs)
        for part in str(text or "").strip().split("\n\n"):
            await self._persist_message(self._message(recipient_id, text=part, custom=custom))

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        await self._persist_message(
            self._message(recipient_id, text=text, buttons=buttons, custom=self._agent_flag(kwargs))
        )

    async def send_quick_replies(
        self,
        recipient_id: str,
        text: str,
        quick_replies: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies, **kwargs)

    async def send_agent_message(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        """A human agent's reply (same entry point as the other channels)."""
        if buttons:
            await self.send_text_with_buttons(recipient_id, text, buttons, human_agent=True)
        else:
            await self.send_text_message(recipient_id, text, human_agent=True)

    async def send_custom_json(self, recipient_id: str, json_message: Any, **kwargs: Any) -> None:
        if isinstance(json_message, dict) and json_message.get("human_agent"):
            text = json_message.get("text")
            if text:
                await self.send_agent_message(recipient_id, str(text), json_message.get("buttons"))
            # else: the flag that marks the text sent just before; nothing to add
            return
        await self._persist_message(self._message(recipient_id, custom=json_message))


# --------------------------------------------------------------------------- #
# Input
# --------------------------------------------------------------------------- #


class RestInput(RasaRestInput):
    """Rasa's REST channel (``/webhooks/rest/webhook``) that can also deliver pushes."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> RestInput:
        return cls(RestConfig.from_credentials(credentials))

    def __init__(self, config: RestConfig | None = None) -> None:
        self.config = config or RestConfig.from_credentials(None)
        self.outbox = self.config.open(Outbox)
        self.limiter = guard.RateLimiter()
        self.known_senders = LRUSet(self.config.max_senders)

    def get_output_channel(self) -> RestOutput:
        return RestOutput(self.outbox)

    # -- POST /webhook ------------------------------------------------------------ #

    def _body(self, request: Request) -> dict[str, Any]:
        raw = guard.check_body(request, MAX_BODY_BYTES)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("invalid_json", "Request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise BadRequest("invalid_payload", "JSON body must be an object.")
        return body

    def _check(self, request: Request, sender_id: Any, text: Any) -> None:
        """Refuses other channels' ids, over-long text and clients over their rate limits."""
        if sender_id is not None and FOREIGN_SENDER.match(str(sender_id)):
            raise BadRequest("invalid_field", "Field 'sender' is in another channel's namespace.")
        if sender_id is not None and len(str(sender_id)) > MAX_SENDER_CHARS:
            raise BadRequest("invalid_field", "Field 'sender' is too long.")
        if guard.text_too_long(text):
            raise BadRequest("message_too_long", f"Field 'message' is longer than {guard.max_text_chars()} characters.")
        client = client_address(request)
        kinds = ["sends", *guard.kinds_of_text(text)]
        key = DEFAULT_SENDER_ID if sender_id is None else str(sender_id)
        if key not in self.known_senders and not self.outbox.last_id(key):
            kinds.append("conversations")
        self.limiter.hit("sender_sends", guard.sender_key(key))
        self.limiter.hit_all(kinds, client)
        self.known_senders.seen(key)

    def _pending(self, sender_id: Any) -> list[dict[str, Any]]:
        key = DEFAULT_SENDER_ID if sender_id is None else str(sender_id)
        return [public_message(e) for e in self.outbox.take_undelivered(key)]

    def stream_response(
        self,
        on_new_message: OnNewMessage,
        text: str,
        sender_id: str,
        input_channel: str,
        metadata: dict[str, Any] | None,
    ) -> Callable[[Any], Awaitable[None]]:
        """Rasa's NDJSON stream, after one line per pushed message not yet handed out."""
        inner = super().stream_response(on_new_message, text, sender_id, input_channel, metadata)

        async def stream(resp: Any) -> None:
            for message in self._pending(sender_id):
                await resp.write(json.dumps(message) + "\n")
            await inner(resp)

        return stream

    async def _receive(self, request: Request, on_new_message: OnNewMessage) -> ResponseStream | HTTPResponse:
        body = self._body(request)
        sender_id = body.get("sender", None)
        self._check(request, sender_id, body.get("message", None))
        text, redacted = redact_user_text(body.get("message", None))
        input_channel = self.name()  # never the body's: replies must not be rerouted
        metadata = mark_redacted(body.get("metadata", None), redacted)

        if bool_arg(request, "stream", default=False):
            return response.stream(
                self.stream_response(on_new_message, text, sender_id, input_channel, metadata),
                content_type="text/event-stream",
            )
        collector = CollectingOutputChannel()
        try:
            await on_new_message(
                UserMessage(text, collector, sender_id, input_channel=input_channel, metadata=metadata)
            )
        except asyncio.CancelledError:
            logger.error("REST: handling a message timed out.")
        except Exception:
            logger.exception("REST: failed to handle a message.")
        # Taken after the bot's turn, so that what was pushed meanwhile comes along too.
        return response.json(self._pending(sender_id) + collector.messages)

    # -- GET /messages ------------------------------------------------------------- #

    async def _messages(self, request: Request) -> HTTPResponse:
        args = request.args
        sender = args.get("sender")
        if not sender:
            raise BadRequest("missing_field", "Parameter 'sender' is required.")
        if len(sender) > MAX_SENDER_CHARS:
            raise BadRequest("invalid_field", "Parameter 'sender' is too long.")
        after, wait = poll_window(args, MAX_WAIT_SECONDS)

        events = await long_poll(self.outbox, sender, after, wait, MAX_MESSAGES_PER_POLL + 1)
        more = len(events) > MAX_MESSAGES_PER_POLL
        events = events[:MAX_MESSAGES_PER_POLL]
        if events:
            self.outbox.mark_delivered(sender, events[-1]["id"])
        return response.json(
            {
                "messages": [public_message(e) for e in events],
                "last_id": self.outbox.last_id(sender),
                "more": more,
            },
            headers={"Cache-Control": "no-store"},
        )

    # -- blueprint -------------------------------------------------------------------- #

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        # Same blueprint name and routes as Rasa's RestInput, plus GET /messages.
        rest = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        def bad(request: Request, exc: BadRequest | guard.Rejected) -> HTTPResponse:
            logger.warning("REST %s %s: %s (%s).", request.method, request.path, exc.error, exc.message)
            resp = json_error(exc.status, exc.error, exc.message)
            if isinstance(exc, guard.Rejected):
                resp.headers.update(exc.headers())
            return resp

        @rest.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @rest.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> ResponseStream | HTTPResponse:
            try:
                return await self._receive(request, on_new_message)
            except (BadRequest, guard.Rejected) as exc:
                return bad(request, exc)

        @rest.route("/messages", methods=["GET"])
        async def messages(request: Request) -> HTTPResponse:
            try:
                return await self._messages(request)
            except BadRequest as exc:
                return bad(request, exc)

        return rest
