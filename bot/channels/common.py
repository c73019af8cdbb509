"""Shared helpers for the custom Zalo OA and Facebook Messenger channels.

Nothing in this module performs I/O or creates network clients at import time.
"""

import asyncio
import json
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Any

import aiohttp
from sanic import response
from sanic.response import HTTPResponse

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


def mask_secret(value: str | None) -> str:
    """Masks a token for logging ("abcd…wxyz")."""
    if not value:
        return "<none>"
    if len(value) <= 10:
        return "***"
    return f"{value[:4]}…{value[-4:]}"


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
    except asyncio.TimeoutError:  # noqa: UP041 - not the builtin before Python 3.11
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
