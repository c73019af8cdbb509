"""Shared helpers for the custom Zalo OA and Facebook Messenger channels.

Besides small helpers, :class:`WebhookOutput` and :class:`WebhookInput` hold
what both platform channels do alike (chunked sending, buttons with a numbered
fallback, signed webhooks, dedupe, background processing); the subclasses in
``zalo.py`` and ``messenger.py`` supply the platform formats and checks.

:func:`redact_user_text` is what every channel (web chat, REST, socket.io, Zalo,
Messenger) applies to a citizen's text before storing it or handing it to Rasa:
passwords, OTPs and passcodes become ``[đã ẩn]``, payloads pass unchanged, and the
UserMessage metadata gets ``"redacted": true`` (:func:`mark_redacted`).

Nothing in this module performs I/O or creates network clients at import time.
"""

import asyncio
import hashlib
import json
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Any, ClassVar

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.guard import Rejected, check_body, max_text_chars
from core.privacy import (  # noqa: F401 - the channels import these from here
    REDACTED_METADATA_KEY,
    is_intent_payload,
    mark_redacted,
    mask_secret,
    redact_user_text,
)

logger = logging.getLogger(__name__)

# Reply sent when a citizen sends a sticker, image, file, voice message, ...
NON_TEXT_REPLY = (
    "Xin lỗi, hiện tôi chỉ đọc được tin nhắn chữ. Bạn vui lòng gõ câu hỏi nhé."
)
# Sentence shown above a numbered list of options (fallback when the platform
# cannot show all options as buttons).
NUMBERED_CHOICE_HINT = "Bạn vui lòng trả lời bằng số thứ tự của lựa chọn:"

DEFAULT_DEDUP_CAPACITY = 10_000
DEFAULT_HTTP_TIMEOUT_SECONDS = 10.0
# Largest webhook body accepted (a Zalo event is < 4 KiB, a Messenger batch a few); larger -> 413.
MAX_WEBHOOK_BODY_BYTES = 256 * 1024

_TRUE_STRINGS = {"1", "true", "yes", "y", "on"}
_FALSE_STRINGS = {"0", "false", "no", "n", "off", ""}


# --------------------------------------------------------------------------- #
# Configuration
# --------------------------------------------------------------------------- #


def parse_bool(value: Any, default: bool | None = None) -> bool | None:
    """Interprets ``value`` (bool, number or string such as "true"/"0") as a bool."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE_STRINGS:
        return True
    if text in _FALSE_STRINGS:
        return False
    logger.warning("Cannot interpret %r as a boolean, using %r.", value, default)
    return default


def config_value(
    credentials: Mapping[str, Any] | None,
    keys: Iterable[str],
    env_var: str | None,
    default: Any = None,
) -> Any:
    """Returns the first non-empty value of ``keys`` in ``credentials``.

    Falls back to the environment variable ``env_var`` and then to ``default``.
    Empty strings count as "not configured" so that a credentials.yml entry such
    as ``access_token: ""`` does not shadow the environment.
    """
    credentials = credentials or {}
    for key in keys:
        value = credentials.get(key)
        if value is not None and value != "":
            return value.strip() if isinstance(value, str) else value
    if env_var:
        value = os.environ.get(env_var)
        if value is not None and value.strip() != "":
            return value.strip()
    return default


def str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


# --------------------------------------------------------------------------- #
# Privacy: secrets a citizen types never reach Rasa, the logs or a mailbox
# --------------------------------------------------------------------------- #

def redacting(
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
) -> Callable[[UserMessage], Awaitable[Any]]:
    """Wraps a channel's ``on_new_message`` so that every UserMessage is redacted first.

    For channels whose request handling we do not write ourselves (socket.io). Rasa
    logs and stores the message only after ``on_new_message`` is called.
    """

    async def handler(message: UserMessage) -> Any:
        text, redacted = redact_user_text(message.text)
        message.text = text
        message.metadata = mark_redacted(message.metadata, redacted)
        return await on_new_message(message)

    return handler


def text_digest(text: str | None) -> str:
    """A short fingerprint of ``text`` for dedupe keys and logs (never the text itself)."""
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- #
# HTTP helpers
# --------------------------------------------------------------------------- #


def json_error(status: int, error: str, message: str) -> HTTPResponse:
    """A JSON error response ``{"error": ..., "message": ...}``."""
    return response.json({"error": error, "message": message}, status=status)


class HttpResult:
    """Outcome of an outgoing HTTP call: status (0 = no response) and JSON body."""

    __slots__ = ("data", "error", "status")

    def __init__(
        self,
        status: int,
        data: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self.status = status
        self.data = data if isinstance(data, dict) else None
        self.error = error

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"HttpResult(status={self.status}, data={self.data}, error={self.error})"


async def post(
    url: str,
    *,
    json_body: Any | None = None,
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_HTTP_TIMEOUT_SECONDS,
) -> HttpResult:
    """POSTs JSON or a form with aiohttp and parses a JSON answer.

    Never raises for network/HTTP/JSON problems: they are reported in the
    returned :class:`HttpResult` (``status == 0`` when there was no response).
    A client session is created per call, inside the running event loop.
    """
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout)
            ) as session,
            session.post(
                url,
                json=json_body,
                data=form,
                headers=dict(headers or {}),
                params=dict(params or {}),
            ) as resp,
        ):
            body = await resp.text()
            try:
                data = json.loads(body) if body else None
            except ValueError:
                return HttpResult(
                    resp.status, None, f"non-JSON response: {body[:200]!r}"
                )
            return HttpResult(resp.status, data)
    except asyncio.TimeoutError:  # not the builtin before Python 3.11
        return HttpResult(0, None, "timeout")
    except (aiohttp.ClientError, OSError) as e:
        return HttpResult(0, None, f"{type(e).__name__}: {e}")
    except Exception as e:  # never let a send crash the conversation
        logger.exception("Unexpected error calling %s", url.split("?")[0])
        return HttpResult(0, None, f"{type(e).__name__}: {e}")


# --------------------------------------------------------------------------- #
# Deduplication
# --------------------------------------------------------------------------- #


class LRUSet:
    """A bounded set that forgets the least recently added keys first."""

    def __init__(self, capacity: int = DEFAULT_DEDUP_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._items: OrderedDict[Hashable, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def seen(self, key: Hashable) -> bool:
        """Returns True if ``key`` was seen before; otherwise records it."""
        if key in self._items:
            self._items.move_to_end(key)
            return True
        self._items[key] = None
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return False

    def discard(self, key: Hashable) -> None:
        self._items.pop(key, None)


# --------------------------------------------------------------------------- #
# Text helpers
# --------------------------------------------------------------------------- #

# Positions right after a sentence end (., !, ?, …, optionally followed by a
# closing quote/bracket) followed by whitespace.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")


def _best_cut(window: str, minimum: int) -> int:
    """Finds where to cut ``window`` (a prefix of the remaining text).

    Preference: paragraph break, line break, sentence end, whitespace. A cut
    point is only used if it keeps at least ``minimum`` characters in the chunk,
    so we do not produce tiny fragments. Falls back to a hard cut.
    """
    limit = len(window)
    candidates = []

    idx = window.rfind("\n\n")
    candidates.append(idx)
    idx = window.rfind("\n")
    candidates.append(idx)
    sentence_ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    candidates.append(sentence_ends[-1] if sentence_ends else -1)
    idx = max(window.rfind(" "), window.rfind("\t"))
    candidates.append(idx)

    for cut in candidates:
        if cut >= minimum:
            return cut
    return limit


def split_text(text: str, limit: int) -> list[str]:
    """Splits ``text`` into chunks of at most ``limit`` characters.

    Cuts preferably at paragraph/line boundaries, then at sentence ends, then at
    whitespace. Chunks are stripped; empty chunks are dropped.
    """
    if limit < 1:
        raise ValueError("limit must be >= 1")
    text = (text or "").strip()
    if not text:
        return []
    chunks: list[str] = []
    remaining = text
    while len(remaining) > limit:
        window = remaining[:limit]
        # When the next char is whitespace, the full window is a clean cut.
        if remaining[limit].isspace():
            cut = limit
        else:
            cut = _best_cut(window, minimum=max(1, limit // 2))
        chunk = remaining[:cut].strip()
        if chunk:
            chunks.append(chunk)
        remaining = remaining[cut:].lstrip()
    if remaining.strip():
        chunks.append(remaining.strip())
    return chunks


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """Shortens ``text`` to ``limit`` characters, at a word boundary if possible."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[:limit]
    room = limit - len(ellipsis)
    head = text[:room]
    space = head.rfind(" ")
    if space >= room // 2:
        head = head[:space]
    return head.rstrip(" ,.;:-") + ellipsis


def button_payload(button: Mapping[str, Any]) -> str:
    """The text that should reach Rasa when ``button`` is chosen."""
    payload = button.get("payload")
    if payload is None or payload == "":
        payload = button.get("title", "")
    return str(payload)


def button_url(button: Mapping[str, Any]) -> str | None:
    """The URL of a link button (``type: web_url`` / ``url`` key), else None."""
    url = button.get("url")
    if url:
        return str(url)
    if button.get("type") == "web_url" and button.get("payload"):
        return str(button["payload"])
    return None


def numbered_list(text: str, buttons: list[Mapping[str, Any]]) -> str:
    """Renders ``buttons`` as a numbered text list below ``text``."""
    lines = []
    if text and text.strip():
        lines.append(text.strip())
        lines.append("")
    lines.append(NUMBERED_CHOICE_HINT)
    for idx, button in enumerate(buttons, start=1):
        title = " ".join(str(button.get("title") or button_payload(button)).split())
        url = button_url(button)
        lines.append(f"{idx}. {title}" + (f": {url}" if url else ""))
    return "\n".join(lines)


class ChoiceMemory:
    """Remembers the options of the last numbered list sent to each user.

    When the platform cannot show buttons, options are sent as a numbered list;
    if the user then answers "2", the input channel maps it back to the payload
    of the second option. Bounded (LRU) so it cannot grow without limit.
    """

    def __init__(self, capacity: int = DEFAULT_DEDUP_CAPACITY) -> None:
        self.capacity = capacity
        self._choices: OrderedDict[str, list[str | None]] = OrderedDict()

    def remember(self, recipient_id: str, buttons: list[Mapping[str, Any]]) -> None:
        payloads: list[str | None] = [
            None if button_url(b) else button_payload(b) for b in buttons
        ]
        self._choices[str(recipient_id)] = payloads
        self._choices.move_to_end(str(recipient_id))
        while len(self._choices) > self.capacity:
            self._choices.popitem(last=False)

    def forget(self, recipient_id: str) -> None:
        self._choices.pop(str(recipient_id), None)

    def resolve(self, recipient_id: str, text: str | None) -> str | None:
        """Returns the payload for a numeric answer, else None (nothing consumed)."""
        if not text:
            return None
        answer = text.strip().rstrip(".")
        if not answer.isdigit():
            return None
        payloads = self._choices.get(str(recipient_id))
        if not payloads:
            return None
        index = int(answer) - 1
        if 0 <= index < len(payloads) and payloads[index]:
            self._choices.pop(str(recipient_id), None)
            return payloads[index]
        return None


# --------------------------------------------------------------------------- #
# Background processing
# --------------------------------------------------------------------------- #


class BackgroundTasks:
    """Runs webhook work after the HTTP response has been sent.

    Tasks with the same key (the user id) run one after the other, in the order
    they were submitted, so a user's messages are never processed out of order.
    Exceptions are logged and never propagate.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_by_key: dict[Hashable, asyncio.Task[None]] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def submit(
        self,
        key: Hashable,
        work: Callable[[], Awaitable[Any]],
        description: str = "webhook event",
    ) -> "asyncio.Task[None]":
        previous = self._last_by_key.get(key)

        async def runner() -> None:
            if previous is not None and not previous.done():
                # ``asyncio.wait`` never raises the previous task's outcome.
                await asyncio.wait([previous])
            try:
                await work()
            except asyncio.CancelledError:
                logger.warning("Processing of %s was cancelled.", description)
                raise
            except Exception:
                logger.exception("Failed to process %s.", description)

        task = asyncio.get_running_loop().create_task(runner())
        self._tasks.add(task)
        self._last_by_key[key] = task

        def _done(finished: "asyncio.Task[None]") -> None:
            self._tasks.discard(finished)
            if self._last_by_key.get(key) is finished:
                del self._last_by_key[key]

        task.add_done_callback(_done)
        return task

    async def wait_idle(self, timeout: float | None = 10.0) -> None:
        """Waits until all submitted work has finished (used by tests/shutdown)."""

        async def _wait() -> None:
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

        await asyncio.wait_for(_wait(), timeout)


# --------------------------------------------------------------------------- #
# Event helpers
# --------------------------------------------------------------------------- #


def is_human_agent(kwargs: Mapping[str, Any]) -> bool:
    """True if a response was written by a human agent (flag or custom payload)."""
    if kwargs.get("human_agent"):
        return True
    custom = kwargs.get("custom")
    return isinstance(custom, dict) and bool(custom.get("human_agent"))


def dict_field(event: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``event[key]`` if it is an object, else an empty dict."""
    value = event.get(key)
    return value if isinstance(value, dict) else {}


def first_id(event: Mapping[str, Any], keys: Iterable[str]) -> str | None:
    """The ``id`` of the first object among ``event[key]`` (for ``keys``) that has one."""
    for key in keys:
        value = event.get(key)
        if isinstance(value, dict) and value.get("id"):
            return str(value["id"])
    return None


# --------------------------------------------------------------------------- #
# Channel base classes
# --------------------------------------------------------------------------- #

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class WebhookOutput(OutputChannel):
    """What the Zalo and Messenger senders share.

    Text is split into chunks of ``max_text_length``; buttons are sent in the
    platform's format when :meth:`_buttons_fit`, else as a numbered list whose
    answers :class:`ChoiceMemory` maps back to payloads. Subclasses send one
    platform ``message`` object in :meth:`_send_object` and build the
    button/image/custom messages. ``human_agent`` (see :func:`is_human_agent`)
    is handed to :meth:`_send_object`; a platform without agent tags ignores it.
    """

    channel_name: ClassVar[str]
    # Name in log messages ("Zalo", "Messenger").
    channel_title: ClassVar[str]
    config_class: ClassVar[Any]
    log: ClassVar[logging.Logger] = logger
    max_text_length: ClassVar[int]
    # Text of a button message when the response has buttons but no text.
    buttons_default_text: ClassVar[str] = ""
    # Custom payload keys holding a raw platform message (first truthy one wins).
    raw_message_keys: ClassVar[tuple[str, ...]] = ()
    # Keys copied from a custom payload that has "text" or "attachment".
    custom_message_keys: ClassVar[tuple[str, ...]] = ("text", "attachment")

    @classmethod
    def name(cls) -> str:
        return cls.channel_name

    @classmethod
    def platform_id(cls, recipient_id: str) -> str:
        """The platform's user id in a conversation id (``zalo:123`` -> ``123``)."""
        prefix = f"{cls.channel_name}:"
        text = str(recipient_id)
        return text[len(prefix):] if text.startswith(prefix) else text

    def __init__(self, config: Any = None, choices: ChoiceMemory | None = None) -> None:
        super().__init__()
        self.config = config or self.config_class.from_credentials(None)
        self.choices = choices or ChoiceMemory()

    # -- platform specifics ------------------------------------------------- #

    async def _send_object(
        self, recipient_id: str, message: dict[str, Any], human_agent: bool
    ) -> bool:
        raise NotImplementedError

    def _buttons_fit(self, buttons: list[dict[str, Any]]) -> bool:
        raise NotImplementedError

    def _buttons_message(self, text: str, buttons: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotImplementedError

    def _image_message(self, image: str) -> dict[str, Any]:
        raise NotImplementedError

    async def _send_custom(self, recipient_id: str, json_message: dict[str, Any]) -> bool:
        raise NotImplementedError

    # -- OutputChannel API -------------------------------------------------- #

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> bool:
        human_agent = is_human_agent(kwargs)
        ok = True
        for chunk in split_text(text, self.max_text_length):
            ok = await self._send_object(recipient_id, {"text": chunk}, human_agent) and ok
        return ok

    async def send_agent_message(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> bool:
        """Sends a human agent's reply (with the platform's agent tag, if any)."""
        if buttons:
            return await self.send_text_with_buttons(
                recipient_id, text, buttons, human_agent=True
            )
        return await self.send_text_message(recipient_id, text, human_agent=True)

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        **kwargs: Any,
    ) -> bool:
        human_agent = is_human_agent(kwargs)
        if not buttons:
            return await self.send_text_message(
                recipient_id, text, human_agent=human_agent
            )
        if not self._buttons_fit(buttons):
            self.choices.remember(self.platform_id(recipient_id), buttons)
            return await self.send_text_message(
                recipient_id, numbered_list(text, buttons), human_agent=human_agent
            )
        chunks = split_text(text, self.max_text_length) or [self.buttons_default_text]
        ok = True
        for chunk in chunks[:-1]:
            ok = await self._send_object(recipient_id, {"text": chunk}, human_agent) and ok
        message = self._buttons_message(chunks[-1], buttons)
        self.choices.forget(self.platform_id(recipient_id))
        return await self._send_object(recipient_id, message, human_agent) and ok

    async def send_quick_replies(
        self,
        recipient_id: str,
        text: str,
        quick_replies: list[dict[str, Any]],
        **kwargs: Any,
    ) -> bool:
        return await self.send_text_with_buttons(
            recipient_id, text, quick_replies, **kwargs
        )

    async def send_image_url(
        self, recipient_id: str, image: str, **kwargs: Any
    ) -> bool:
        return await self._send_object(
            recipient_id, self._image_message(image), is_human_agent(kwargs)
        )

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> bool:
        """Custom payloads; see the subclass's ``_send_custom``."""
        if not isinstance(json_message, dict):
            self.log.warning(
                "Ignoring non-dict custom payload for %s.", self.channel_title
            )
            return False
        return await self._send_custom(recipient_id, json_message)

    async def _send_custom_content(
        self, recipient_id: str, json_message: dict[str, Any], human_agent: bool
    ) -> bool:
        """Sends a raw platform message found in a custom payload, else ignores it.

        Never dumps the payload as JSON to citizens.
        """
        raw = None
        for key in self.raw_message_keys:
            raw = json_message.get(key)
            if raw:
                break
        if isinstance(raw, dict):
            return await self._send_object(recipient_id, raw, human_agent)
        if "text" in json_message or "attachment" in json_message:
            message = {
                k: json_message[k] for k in self.custom_message_keys if k in json_message
            }
            return await self._send_object(recipient_id, message, human_agent)
        self.log.debug(
            "Ignoring custom payload without %s content: %s",
            self.channel_title,
            list(json_message),
        )
        return True


class WebhookInput(InputChannel):
    """What the Zalo and Messenger webhooks share.

    Routes (below ``/webhooks/<channel_name>``): ``GET /`` health,
    ``GET /webhook`` (:meth:`_webhook_get`) and ``POST /webhook``
    (:meth:`_receive`, which subclasses implement with the helpers here:
    signature check, JSON decoding, dedupe, background processing).
    """

    channel_name: ClassVar[str]
    # Name in log messages ("Zalo", "Messenger").
    channel_title: ClassVar[str]
    config_class: ClassVar[Any]
    log: ClassVar[logging.Logger] = logger
    # Webhook signature: header, env var of the key, how the key is named in
    # the "not configured" error, and the HTTP status of signature failures.
    signature_header: ClassVar[str]
    secret_env_var: ClassVar[str]
    secret_description: ClassVar[str]
    signature_failure_status: ClassVar[int]
    # Route name of ``GET /webhook``.
    webhook_get_route: ClassVar[str] = "webhook_info"

    @classmethod
    def name(cls) -> str:
        return cls.channel_name

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> "WebhookInput":
        return cls(cls.config_class.from_credentials(credentials))

    @classmethod
    def conversation_id(cls, platform_id: str | None) -> str | None:
        """Rasa's sender id for a platform user: namespaced (``zalo:123``), so that no other
        channel's id can name this conversation (and the REST channel refuses the prefix)."""
        return f"{cls.channel_name}:{platform_id}" if platform_id else None

    def __init__(self, config: Any = None) -> None:
        from bot.channels.dedupe import SeenEvents  # it imports this module

        self.config = config or self.config_class.from_credentials(None)
        self.choices = ChoiceMemory(self.config.dedup_capacity)
        self.seen_events = SeenEvents(self.channel_name, self.config.dedup_capacity)
        self.background = BackgroundTasks()
        if not self.signing_secret:
            self.log.warning(
                "%s is not set: the %s webhook will reject every event "
                "(signatures cannot be verified).",
                self.secret_env_var,
                self.channel_title,
            )
        self._warn_config()
        if self.get_output_channel().dry_run:
            self.log.info(
                "%s channel in dry-run mode: replies are logged, not sent.",
                self.channel_title,
            )

    @property
    def signing_secret(self) -> str | None:
        """The key webhook signatures are checked with."""
        raise NotImplementedError

    def _warn_config(self) -> None:
        """Logs further configuration problems at start-up (default: none)."""

    def get_output_channel(self) -> WebhookOutput:
        raise NotImplementedError

    async def wait_idle(self, timeout: float | None = 10.0) -> None:
        """Waits for background processing of received events to finish."""
        await self.background.wait_idle(timeout)

    # -- handlers (run in the background) ------------------------------------ #

    async def _handle_text(
        self,
        on_new_message: OnNewMessage,
        sender_id: str,
        text: str,
        message_id: str | None,
        metadata: dict[str, Any],
        resolve_numbers: bool = True,
    ) -> None:
        if resolve_numbers:
            resolved = self.choices.resolve(self.get_output_channel().platform_id(sender_id), text)
            if resolved is not None:
                text = resolved
        await on_new_message(
            UserMessage(
                text,
                self.get_output_channel(),
                sender_id,
                input_channel=self.name(),
                message_id=message_id,
                metadata=metadata,
            )
        )

    async def _reply_non_text(self, sender_id: str) -> None:
        await self.get_output_channel().send_text_message(sender_id, NON_TEXT_REPLY)

    def _submit_text(
        self,
        on_new_message: OnNewMessage,
        sender_id: str,
        text: str,
        message_id: str | None,
        metadata: dict[str, Any],
        description: str,
        resolve_numbers: bool = True,
    ) -> None:
        """Hands the text to Rasa after the response, in order per sender.

        Secrets in the text are redacted first (:func:`redact_user_text`; button
        payloads pass unchanged) and ``metadata["redacted"]`` is set if any was, so
        neither Rasa's tracker, its NLU nor the logs see them. A numbered answer
        ("2") is never changed by redaction, so :class:`ChoiceMemory` still maps it.
        """
        # The platform already took the message: over-long text is cut, not refused, before NLU.
        text = text[: max_text_chars()]
        text, redacted = redact_user_text(text)
        metadata = mark_redacted(metadata, redacted) or {}
        self.background.submit(
            sender_id,
            lambda: self._handle_text(
                on_new_message, sender_id, text, message_id, metadata, resolve_numbers
            ),
            description,
        )

    def _submit_non_text(self, sender_id: str, description: str) -> None:
        """Answers a sticker/image/file/... with :data:`NON_TEXT_REPLY`."""
        self.background.submit(
            sender_id, lambda: self._reply_non_text(sender_id), description
        )

    # -- blueprint -------------------------------------------------------------- #

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook_blueprint = Blueprint(
            f"{self.channel_name}_webhook", type(self).__module__
        )

        @webhook_blueprint.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok", "channel": self.channel_name})

        @webhook_blueprint.route(
            "/webhook", methods=["GET"], name=self.webhook_get_route
        )
        async def webhook_get(request: Request) -> HTTPResponse:
            return self._webhook_get(request)

        @webhook_blueprint.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            try:
                check_body(request, MAX_WEBHOOK_BODY_BYTES)
            except Rejected as exc:
                self.log.warning("%s webhook: %s.", self.channel_title, exc.error)
                return json_error(exc.status, exc.error, exc.message)
            try:
                return self._receive(request, on_new_message)
            except Exception:  # pragma: no cover - last line of defence
                self.log.exception("Unexpected error in %s webhook.", self.channel_title)
                return json_error(400, "bad_request", "Could not process the event.")

        return webhook_blueprint

    def _webhook_get(self, request: Request) -> HTTPResponse:
        return response.json({"status": "ok", "channel": self.channel_name})

    def _receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        raise NotImplementedError

    # -- request helpers ------------------------------------------------------ #

    def _check_signature(
        self, request: Request, verify: Callable[[str, str], bool]
    ) -> HTTPResponse | None:
        """None if ``verify(header, signing_secret)`` accepts the request's signature.

        Otherwise the error response: the key is not configured, the header is
        missing, or the signature is wrong.
        """
        secret = self.signing_secret
        status = self.signature_failure_status
        if not secret:
            self.log.error(
                "%s webhook: rejecting event, %s not set.",
                self.channel_title,
                self.secret_env_var,
            )
            return json_error(
                status,
                "signature_not_configured",
                f"Webhook {self.secret_description} is not configured.",
            )
        header = request.headers.get(self.signature_header)
        if not header:
            self.log.warning(
                "%s webhook: missing %s header.", self.channel_title, self.signature_header
            )
            return json_error(
                status, "missing_signature", f"Header {self.signature_header} is required."
            )
        if not verify(header, secret):
            self.log.warning("%s webhook: invalid signature.", self.channel_title)
            return json_error(status, "invalid_signature", "Signature verification failed.")
        return None

    def _decode_json(self, raw: bytes) -> tuple[Any, HTTPResponse | None]:
        """(body, None), or (None, the 400 error response) if ``raw`` is not JSON."""
        try:
            return json.loads(raw.decode("utf-8")), None
        except (UnicodeDecodeError, ValueError):
            self.log.warning(
                "%s webhook: malformed JSON body (%d bytes).", self.channel_title, len(raw)
            )
            return None, json_error(
                400, "invalid_json", "Request body is not valid JSON."
            )

    def _is_duplicate(self, dedup_key: str) -> bool:
        """True (and logged) if an event with ``dedup_key`` was received before."""
        if self.seen_events.seen(dedup_key):
            self.log.info("%s webhook: duplicate event ignored.", self.channel_title)
            self.log.debug("%s webhook: duplicate key %s.", self.channel_title, dedup_key)
            return True
        return False

    def _channel_metadata(self, info: Mapping[str, Any]) -> dict[str, Any]:
        """``{channel_name: info}`` without the None values (UserMessage metadata)."""
        return {self.channel_name: {k: v for k, v in info.items() if v is not None}}
