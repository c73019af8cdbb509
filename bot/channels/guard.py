"""Limits on the public channel routes: body size and type, text length, per-client rates.

Standard library only (besides Sanic's request type at call time), so both processes can use it.

* :func:`check_body` -> ``413`` when a body is larger than the route's cap (checked on
  ``Content-Length`` and on the bytes read), ``415`` when it is not ``application/json``.
* :func:`text_too_long`: the cap on a citizen's text before it reaches NLU
  (``DVC_MAX_TEXT_CHARS``, default 5000).
* :class:`RateLimiter`: sliding-window counts per (kind, client), answered with ``429`` and
  ``Retry-After``. Kinds and defaults (``DVC_RATE_<KIND>=count/seconds``), per client address:
  ``sends`` 600/60, ``conversations`` 1000/3600 (a new web chat session, a REST sender id not
  seen before), ``handoffs`` 60/3600 (a ``/request_human`` button); and per conversation:
  ``sender_sends`` 20/60, more than a person types, so a script hammering one conversation is
  stopped at once. The per-address limits are generous on purpose: a carrier's NAT puts thousands
  of citizens behind one address, and a hotline's own evaluation runs hundreds of conversations
  from one machine; they stop floods, the per-conversation limit stops bursts. A call-back needs
  a handoff request in a conversation first, so these bound call-backs too.
  ``DVC_RATE_LIMITS=off`` turns them all off (benchmarks on loopback).
* The client a limit counts is ``core.net.client_address`` (shared with the agent console).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from typing import Any

from core.settings import env_flag, env_int, env_raw

DEFAULT_MAX_TEXT_CHARS = 5000
JSON_TYPES = ("application/json",)
DEFAULT_RATES = {
    "sends": (600, 60.0),
    "conversations": (1000, 3600.0),
    "handoffs": (60, 3600.0),
    "sender_sends": (20, 60.0),  # keyed by conversation, not by address (see sender_key)
}


def sender_key(sender: str) -> str:
    """The limiter's client key for per-conversation limits (never mixed with addresses)."""
    return f"sender:{sender}"


# Intent payloads (what buttons send) that start a handoff.
HANDOFF_PAYLOADS = ("/request_human",)


class Rejected(Exception):
    """A request refused by a limit: HTTP ``status``, machine ``error``, Vietnamese-free ``message``."""

    def __init__(self, status: int, error: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}


def max_text_chars() -> int:
    try:
        return max(1, env_int("DVC_MAX_TEXT_CHARS", DEFAULT_MAX_TEXT_CHARS))
    except ValueError:
        return DEFAULT_MAX_TEXT_CHARS


def text_too_long(text: Any) -> bool:
    return isinstance(text, str) and len(text) > max_text_chars()


def check_body(request: Any, max_bytes: int, require_json: bool = True) -> bytes:
    """The raw body, or :class:`Rejected` (413 too large, 415 not JSON)."""
    length = request.headers.get("content-length")
    try:
        declared = int(length) if length else 0
    except ValueError:
        declared = 0
    raw = request.body or b""
    if declared > max_bytes or len(raw) > max_bytes:
        raise Rejected(413, "payload_too_large", f"Request body is larger than {max_bytes} bytes.")
    if require_json:
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type not in JSON_TYPES:
            raise Rejected(415, "unsupported_media_type", "Content-Type must be application/json.")
    return raw


# --------------------------------------------------------------------------- #
# Rate limits
# --------------------------------------------------------------------------- #


def _parse_rate(raw: str | None, default: tuple[int, float]) -> tuple[int, float]:
    if not raw:
        return default
    try:
        count, _, seconds = raw.partition("/")
        parsed = (int(count), float(seconds or 60))
    except ValueError:
        return default
    return parsed if parsed[0] > 0 and parsed[1] > 0 else default


def limits_enabled() -> bool:
    return env_flag("DVC_RATE_LIMITS", True)


class RateLimiter:
    """Sliding-window counters per (kind, client), bounded in memory (least recently used dropped).

    ``hit`` checks and records in one step under a lock, so concurrent requests cannot all pass.
    """

    def __init__(
        self, rates: dict[str, tuple[int, float]] | None = None, enabled: bool | None = None, max_keys: int = 50_000
    ) -> None:
        self.rates = (
            rates
            if rates is not None
            else {
                kind: _parse_rate(env_raw(f"DVC_RATE_{kind.upper()}"), default)
                for kind, default in DEFAULT_RATES.items()
            }
        )
        self.enabled = limits_enabled() if enabled is None else enabled
        self.max_keys = max_keys
        self._hits: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, kind: str, client: str, now: float | None = None) -> None:
        """Counts one ``kind`` event for ``client``; :class:`Rejected` (429) when over the limit."""
        self.hit_all([kind], client, now)

    def hit_all(self, kinds: list[str], client: str, now: float | None = None) -> None:
        """Counts one event of each of ``kinds``, or none of them if any is over its limit (429)."""
        kinds = [k for k in kinds if k in self.rates]
        if not self.enabled or not kinds:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            windows = []
            for kind in kinds:
                limit, window = self.rates[kind]
                key = (kind, client)
                hits = self._hits.get(key)
                if hits is None:
                    hits = self._hits[key] = deque()
                self._hits.move_to_end(key)
                while hits and hits[0] <= now - window:
                    hits.popleft()
                if len(hits) >= limit:
                    wait = max(1, math.ceil(hits[0] + window - now))
                    raise Rejected(429, "too_many_requests", f"Too many {kind}; try again later.", wait)
                windows.append(hits)
            for hits in windows:
                hits.append(now)
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)


def kinds_of_text(text: Any) -> list[str]:
    """The extra rate-limit kinds a message counts for (a handoff button)."""
    if not isinstance(text, str):
        return []
    head = text.strip().split("{", 1)[0].split("@", 1)[0].lower()
    return ["handoffs"] if head in HANDOFF_PAYLOADS else []
