"""HTTP for the channels: JSON error responses and one POST helper with a result type (no client at import)."""

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
from sanic import response
from sanic.response import HTTPResponse


from bot.channels.config import DEFAULT_HTTP_TIMEOUT_SECONDS

logger = logging.getLogger(__name__)


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
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
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
                return HttpResult(resp.status, None, f"non-JSON response: {body[:200]!r}")
            return HttpResult(resp.status, data)
    except asyncio.TimeoutError:  # not the builtin before Python 3.11
        return HttpResult(0, None, "timeout")
    except (aiohttp.ClientError, OSError) as e:
        return HttpResult(0, None, f"{type(e).__name__}: {e}")
    except Exception as e:  # never let a send crash the conversation
        logger.exception("Unexpected error calling %s", url.split("?")[0])
        return HttpResult(0, None, f"{type(e).__name__}: {e}")
