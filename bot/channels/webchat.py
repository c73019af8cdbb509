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
import math
import re
import secrets
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from core.net import client_address
from bot.channels import config, guard
from bot.channels.config import config_value
from bot.channels.delivery import LRUSet, button_payload, button_url
from bot.channels.http_utils import json_error
from bot.channels.tasks import BackgroundTasks
from core.privacy import mark_redacted, redact_user_text
from core.settings import parse_bool
from bot.channels.webchat_auth import TOKEN_HEADER, Binder, allowed_origins, cors_headers

logger = logging.getLogger(__name__)

CHANNEL_NAME = "webchat"
DEFAULT_DB_PATH = "var/webchat.sqlite3"
STATIC_DIR = Path(__file__).with_name("webchat_static")

MAX_MESSAGE_CHARS = 5000
MAX_BODY_BYTES = 64 * 1024
MAX_BOT_TEXT_CHARS = 20_000
MAX_BUTTONS = 20
MAX_WAIT_SECONDS = 30.0
MAX_EVENTS_PER_POLL = 100
MAX_PENDING_PER_SENDER = 20
# Client-generated ids: the widget uses "w-" + 32 hex digits. Rasa conversation
# ids used for out-of-band messages are not checked against this.
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")

AGENT_LABEL = "Tổng đài viên"
ERROR_REPLY = (
    "Xin lỗi, hệ thống đang gặp sự cố nên chưa trả lời được. "
    "Bạn vui lòng thử lại sau ít phút."
)

_STATIC_TYPES = {
    "widget.js": "application/javascript; charset=utf-8",
    "widget.css": "text/css; charset=utf-8",
    "demo.css": "text/css; charset=utf-8",
}


# --------------------------------------------------------------------------- #
# Configuration
# --------------------------------------------------------------------------- #


@dataclass
class MailboxConfig:
    """Where and how much a :class:`Mailbox` keeps; subclasses name their env variable and file."""

    ENV: ClassVar[str] = "WEBCHAT_DB"
    DEFAULT_PATH: ClassVar[str] = DEFAULT_DB_PATH

    db_path: str | None = DEFAULT_DB_PATH
    memory_events: int = 200
    history_events: int = 1000
    max_senders: int = 10_000
    retention_days: float = 30.0

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None = None) -> MailboxConfig:
        c = credentials or {}
        return cls(
            db_path=str(config_value(c, ["db_path"], cls.ENV, cls.DEFAULT_PATH)),
            memory_events=_positive_int(c.get("memory_events"), 200),
            history_events=_positive_int(c.get("history_events"), 1000),
            max_senders=_positive_int(c.get("max_senders"), 10_000),
            retention_days=float(_positive_int(c.get("retention_days"), 30)),
        )

    def open(self, mailbox_class: type[Mailbox] | None = None) -> Mailbox:
        return (mailbox_class or Mailbox)(
            self.db_path,
            memory_events=self.memory_events,
            history_events=self.history_events,
            max_senders=self.max_senders,
            retention_days=self.retention_days,
        )


@dataclass
class WebChatConfig(MailboxConfig):
    dedup_capacity: int = config.DEFAULT_DEDUP_CAPACITY


def _positive_int(value: Any, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def _is_http_url(value: Any) -> bool:
    return isinstance(value, str) and re.match(r"^https?://[^\s]+$", value, re.I) is not None


# --------------------------------------------------------------------------- #
# Mailbox
# --------------------------------------------------------------------------- #


class _SenderBox:
    __slots__ = ("events", "last_id")

    def __init__(self, events: list[dict[str, Any]], last_id: int, size: int) -> None:
        self.events: deque[dict[str, Any]] = deque(events, maxlen=size)
        self.last_id = last_id


class Mailbox:
    """Ordered events per sender: bounded in memory (LRU), persisted in SQLite.

    All methods run on the event loop thread and never await between reading and
    writing a sender's state, so id assignment is atomic. SQLite problems are
    logged and the mailbox carries on in memory (a chat must not break because
    the disk is full).
    """

    # Name in log messages (the REST channel's outbox is a Mailbox too).
    label: ClassVar[str] = "Web chat"

    def __init__(
        self,
        db_path: str | None = DEFAULT_DB_PATH,
        memory_events: int = 200,
        history_events: int = 1000,
        max_senders: int = 10_000,
        retention_days: float = 30.0,
    ) -> None:
        self.memory_events = memory_events
        self.history_events = max(history_events, memory_events)
        self.max_senders = max_senders
        self._boxes: OrderedDict[str, _SenderBox] = OrderedDict()
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._db: sqlite3.Connection | None = None
        self.epoch = secrets.token_hex(8)
        if db_path and db_path != ":memory:":
            self._open(db_path, retention_days)

    # -- SQLite ---------------------------------------------------------------- #

    def _open(self, db_path: str, retention_days: float) -> None:
        try:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=2000")
            db.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS events ("
                " sender TEXT NOT NULL, id INTEGER NOT NULL, ts REAL NOT NULL,"
                " client_msg_id TEXT, data TEXT NOT NULL, PRIMARY KEY (sender, id))"
            )
            db.execute(
                "CREATE INDEX IF NOT EXISTS events_client_msg"
                " ON events (sender, client_msg_id) WHERE client_msg_id IS NOT NULL"
            )
            db.execute("CREATE INDEX IF NOT EXISTS events_ts ON events (ts)")
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?)",
                (self.epoch,),
            )
            row = db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
            self.epoch = row[0]
            if retention_days > 0:
                cutoff = time.time() - retention_days * 86400
                deleted = db.execute("DELETE FROM events WHERE ts < ?", (cutoff,))
                if deleted.rowcount:
                    logger.info("%s: deleted %d expired events.", self.label, deleted.rowcount)
            self._db = db
            logger.info("%s mailbox: %s", self.label, db_path)
        except (sqlite3.Error, OSError):
            logger.exception(
                "%s: cannot open %s; history is kept in memory only.", self.label, db_path
            )
            self._db = None

    def _db_call(self, what: str, sql: str, args: tuple[Any, ...]) -> list[Any] | None:
        if self._db is None:
            return None
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.Error:
            logger.exception("%s: SQLite error while %s.", self.label, what)
            return None

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:  # pragma: no cover
                pass
            self._db = None

    @property
    def persistent(self) -> bool:
        return self._db is not None

    # -- memory ---------------------------------------------------------------- #

    def _box(self, sender: str) -> _SenderBox:
        box = self._boxes.get(sender)
        if box is not None:
            self._boxes.move_to_end(sender)
            return box
        rows = self._db_call(
            "loading a mailbox",
            "SELECT data FROM events WHERE sender = ? ORDER BY id DESC LIMIT ?",
            (sender, self.memory_events),
        )
        events = [json.loads(r[0]) for r in reversed(rows or [])]
        last = events[-1]["id"] if events else 0
        box = _SenderBox(events, last, self.memory_events)
        self._boxes[sender] = box
        while len(self._boxes) > self.max_senders:
            # Reloaded from SQLite when the sender comes back.
            self._boxes.popitem(last=False)
        return box

    def __len__(self) -> int:
        return len(self._boxes)

    # -- API ------------------------------------------------------------------- #

    def append(self, sender: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """Stores ``event`` with the sender's next id and wakes its pollers."""
        box = self._box(sender)
        stored = {k: v for k, v in event.items() if v not in (None, "", [])}
        stored["id"] = box.last_id + 1
        stored.setdefault("ts", round(time.time(), 3))
        box.last_id = stored["id"]
        box.events.append(stored)
        self._db_call(
            "storing an event",
            "INSERT OR REPLACE INTO events (sender, id, ts, client_msg_id, data)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                sender,
                stored["id"],
                stored["ts"],
                stored.get("client_msg_id"),
                json.dumps(stored, ensure_ascii=False),
            ),
        )
        if stored["id"] % 50 == 0:
            self._db_call(
                "trimming a mailbox",
                "DELETE FROM events WHERE sender = ? AND id <= ?",
                (sender, stored["id"] - self.history_events),
            )
        self.notify(sender)
        return stored

    def last_id(self, sender: str) -> int:
        return self._box(sender).last_id

    def events_after(
        self, sender: str, after: int, limit: int = MAX_EVENTS_PER_POLL
    ) -> list[dict[str, Any]]:
        box = self._box(sender)
        if after >= box.last_id:
            return []
        if box.events and box.events[0]["id"] <= after + 1:
            return [e for e in box.events if e["id"] > after][:limit]
        rows = self._db_call(
            "reading events",
            "SELECT data FROM events WHERE sender = ? AND id > ? ORDER BY id LIMIT ?",
            (sender, after, limit),
        )
        if rows:
            return [json.loads(r[0]) for r in rows]
        # No database (or it failed): what memory still has.
        return [e for e in box.events if e["id"] > after][:limit]

    def has_client_msg(self, sender: str, client_msg_id: str) -> bool:
        box = self._box(sender)
        if any(e.get("client_msg_id") == client_msg_id for e in box.events):
            return True
        rows = self._db_call(
            "looking up a message id",
            "SELECT 1 FROM events WHERE sender = ? AND client_msg_id = ? LIMIT 1",
            (sender, client_msg_id),
        )
        return bool(rows)

    def notify(self, sender: str) -> None:
        for waiter in self._waiters.pop(sender, set()):
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, sender: str, timeout: float) -> None:
        """Waits until :meth:`notify` is called for ``sender`` or ``timeout``."""
        if timeout <= 0:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(sender, set()).add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:  # not the builtin on Python 3.10
            pass
        finally:
            waiters = self._waiters.get(sender)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[sender]


# --------------------------------------------------------------------------- #
# Output
# --------------------------------------------------------------------------- #


def _is_human_agent(kwargs: Mapping[str, Any]) -> bool:
    if kwargs.get("human_agent"):
        return True
    custom = kwargs.get("custom")
    return isinstance(custom, dict) and bool(custom.get("human_agent"))


def normalize_buttons(buttons: Any) -> list[dict[str, str]]:
    """Buttons as the widget shows them: ``{title, payload}`` or ``{title, url}``.

    Link buttons with anything but an http(s) URL are dropped.
    """
    result: list[dict[str, str]] = []
    if not isinstance(buttons, list):
        return result
    for b in buttons[:MAX_BUTTONS]:
        if not isinstance(b, Mapping):
            continue
        title = " ".join(str(b.get("title") or "").split())
        url = button_url(b)
        if url is not None:
            if not _is_http_url(url):
                logger.warning("Web chat: dropping a link button with URL %.80r", url)
                continue
            result.append({"title": title or url, "url": url})
            continue
        payload = button_payload(b)
        if not payload and not title:
            continue
        result.append({"title": title or payload, "payload": payload})
    return result


class WebChatOutput(OutputChannel):
    """Appends every bot message to the recipient's mailbox."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    def _append(self, recipient_id: str, **event: Any) -> None:
        text = event.get("text")
        if isinstance(text, str):
            text = text.strip()
            if len(text) > MAX_BOT_TEXT_CHARS:
                text = text[:MAX_BOT_TEXT_CHARS].rstrip() + " …"
            event["text"] = text
        if event.get("type") == "agent":
            event["label"] = AGENT_LABEL
        if not event.get("text") and not event.get("buttons") and not event.get("image"):
            return
        self.mailbox.append(str(recipient_id), event)

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        kind = "agent" if _is_human_agent(kwargs) else "bot"
        self._append(recipient_id, type=kind, text=str(text or ""))

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        kind = "agent" if _is_human_agent(kwargs) else "bot"
        self._append(
            recipient_id,
            type=kind,
            text=str(text or ""),
            buttons=normalize_buttons(buttons),
        )

    async def send_quick_replies(
        self,
        recipient_id: str,
        text: str,
        quick_replies: list[dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies, **kwargs)

    async def send_image_url(
        self, recipient_id: str, image: str, **kwargs: Any
    ) -> None:
        if not _is_http_url(image):
            logger.warning("Web chat: ignoring an image that is not an http(s) URL.")
            return
        self._append(recipient_id, type="bot", image=image)

    async def send_attachment(
        self, recipient_id: str, attachment: Any, **kwargs: Any
    ) -> None:
        if isinstance(attachment, str) and attachment.strip():
            self._append(recipient_id, type="bot", text=attachment)
        else:
            logger.debug("Web chat: ignoring a structured attachment.")

    async def send_agent_message(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        """A human agent's reply, shown with the label "Tổng đài viên"."""
        self._append(
            recipient_id,
            type="agent",
            text=str(text or ""),
            buttons=normalize_buttons(buttons or []),
        )

    async def send_custom_json(
        self, recipient_id: str, json_message: Any, **kwargs: Any
    ) -> None:
        """``{"human_agent": true, "text": ...}`` is an agent message; the rest
        (``{"dvc": ...}`` decision metadata, unknown payloads) is never shown."""
        if not isinstance(json_message, dict):
            logger.debug("Web chat: ignoring a non-object custom payload.")
            return
        if json_message.get("human_agent"):
            text = json_message.get("text")
            if text:
                await self.send_agent_message(
                    recipient_id, str(text), json_message.get("buttons")
                )
            return
        logger.debug("Web chat: not showing custom payload %s.", list(json_message))


# --------------------------------------------------------------------------- #
# Static files
# --------------------------------------------------------------------------- #

DEMO_CONFIG_SCRIPT = (
    'window.TroLyDVC = {server: "", title: "Trợ lý ảo Dịch vụ công"};'
)

DEMO_PAGE = """<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cổng Dịch vụ công — trang thử trợ lý ảo</title>
<link rel="stylesheet" href="/webhooks/webchat/demo.css">
</head>
<body>
<header class="portal-header">
  <div class="portal-brand">
    <span class="portal-emblem" aria-hidden="true">★</span>
    <div>
      <div class="portal-name">CỔNG DỊCH VỤ CÔNG</div>
      <div class="portal-sub">Trang thử nghiệm trợ lý ảo cho người dân</div>
    </div>
  </div>
</header>
<nav class="portal-nav" aria-label="Chuyên mục">
  <a href="#thu-tuc">Thủ tục hành chính</a>
  <a href="#vneid">Tài khoản VNeID</a>
  <a href="#ho-tro">Hỗ trợ</a>
</nav>
<main class="portal-main">
  <h1>Dịch vụ công trực tuyến</h1>
  <p>Nộp hồ sơ, tra cứu kết quả và thanh toán lệ phí trực tuyến bằng tài khoản
  định danh điện tử VNeID.</p>
  <section id="thu-tuc" class="portal-card">
    <h2>Thủ tục hành chính</h2>
    <p>Tìm thủ tục theo lĩnh vực, theo cơ quan thực hiện hoặc theo sự kiện (khai sinh,
    kết hôn, nhập học…).</p>
  </section>
  <section id="vneid" class="portal-card">
    <h2>Tài khoản VNeID</h2>
    <p>Đăng ký, kích hoạt, đổi thiết bị, quên mật khẩu hoặc mã bảo vệ (passcode).</p>
  </section>
  <section id="ho-tro" class="portal-card">
    <h2>Hỗ trợ</h2>
    <p>Bấm nút <strong>Hỏi trợ lý ảo</strong> ở góc dưới bên phải để được hướng dẫn.
    Không gửi mật khẩu, mã OTP hay passcode cho bất kỳ ai.</p>
  </section>
</main>
<footer class="portal-footer">Trang minh hoạ — không phải cổng chính thức.</footer>
<script>__CONFIG__</script>
<script src="/webhooks/webchat/widget.js" defer></script>
</body>
</html>
"""


def _csp() -> str:
    digest = hashlib.sha256(DEMO_CONFIG_SCRIPT.encode("utf-8")).digest()
    script_hash = "sha256-" + base64.b64encode(digest).decode("ascii")
    return (
        "default-src 'self'; "
        f"script-src 'self' '{script_hash}'; "
        "style-src 'self'; img-src 'self' https: data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"
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


class BadRequest(Exception):
    def __init__(self, error: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error = error
        self.message = message
        self.status = status


def poll_window(args: Mapping[str, Any], max_wait: float) -> tuple[int, float]:
    """``after`` (event id, default 0) and ``wait`` (seconds, default 0, capped at ``max_wait``)
    of a long-poll request; :class:`BadRequest` when they are not non-negative numbers."""
    try:
        after = int(args.get("after") or 0)
        wait = float(args.get("wait") or 0)
    except ValueError:
        raise BadRequest(
            "invalid_field", "'after' must be an integer and 'wait' a number."
        ) from None
    if after < 0 or not math.isfinite(wait) or wait < 0:
        raise BadRequest("invalid_field", "'after' and 'wait' must not be negative.")
    return after, min(wait, max_wait)


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
        raise BadRequest(
            "message_too_long", f"Field '{key}' is longer than {MAX_MESSAGE_CHARS} characters."
        )
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

        if client_msg_id is not None:
            key = f"{sender}\x00{client_msg_id}"
            if key in self.seen or self.mailbox.has_client_msg(sender, client_msg_id):
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

        echo = self.mailbox.append(
            sender,
            {"type": "user", "text": display or text, "client_msg_id": client_msg_id},
        )
        self._pending[sender] = self._pending.get(sender, 0) + 1
        self.background.submit(
            sender,
            lambda: self._process(on_new_message, sender, text, client_msg_id, redacted),
            "web chat message",
        )
        return response.json({"status": "accepted", "id": echo["id"]}, status=202)

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

    async def _poll(self, request: Request) -> HTTPResponse:
        args = request.args
        sender = _sender(args.get("sender"))
        after, wait = poll_window(args, MAX_WAIT_SECONDS)
        sender = self._bound_sender(request, sender)
        client_busy = parse_bool(args.get("busy"), default=None)
        epoch = args.get("epoch")

        deadline = time.monotonic() + wait
        while True:
            events = self.mailbox.events_after(sender, after, MAX_EVENTS_PER_POLL + 1)
            busy = self.busy(sender)
            remaining = deadline - time.monotonic()
            if (
                events
                or remaining <= 0
                or after > self.mailbox.last_id(sender)  # store was reset: tell now
                or (client_busy is not None and client_busy != busy)
                or (epoch and epoch != self.mailbox.epoch)
            ):
                break
            await self.mailbox.wait(sender, remaining)
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

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webchat = Blueprint("webchat_webhook", __name__)

        def bad(request: Request, exc: BadRequest | guard.Rejected) -> HTTPResponse:
            logger.warning(
                "Web chat %s %s: %s (%s).", request.method, request.path, exc.error, exc.message
            )
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
                return await self._poll(request)
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
                DEMO_PAGE.replace("__CONFIG__", DEMO_CONFIG_SCRIPT),
                headers={
                    "Content-Security-Policy": _csp(),
                    "Cache-Control": "no-cache",
                    "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin",
                },
            )

        return webchat
