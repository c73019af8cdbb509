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


class HttpClient:
    """One pooled aiohttp session (keep-alive connections) for a channel's calls to its platform.

    Made on first use inside the running event loop, and made again if that loop is not the one
    running now (tests run one loop each); :meth:`close` when the server stops.
    """

    def __init__(self, limit: int = 20) -> None:
        self.limit = limit
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.limit))
            self._loop = loop
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed and self._loop is asyncio.get_running_loop():
            await session.close()


async def post(
    url: str,
    *,
    json_body: Any | None = None,
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_HTTP_TIMEOUT_SECONDS,
    client: HttpClient | None = None,
) -> HttpResult:
    """POSTs JSON or a form with aiohttp and parses a JSON answer.

    Never raises for network/HTTP/JSON problems: they are reported in the
    returned :class:`HttpResult` (``status == 0`` when there was no response).
    With a ``client``, its pooled session is used; without, a session is made for this call.
    """
    kwargs = {
        "json": json_body,
        "data": form,
        "headers": dict(headers or {}),
        "params": dict(params or {}),
        "timeout": aiohttp.ClientTimeout(total=timeout),
    }
    try:
        if client is not None:
            async with client.session().post(url, **kwargs) as resp:
                return await _result(resp)
        async with aiohttp.ClientSession() as session, session.post(url, **kwargs) as resp:
            return await _result(resp)
    except asyncio.TimeoutError:  # not the builtin before Python 3.11
        return HttpResult(0, None, "timeout")
    except (aiohttp.ClientError, OSError) as e:
        return HttpResult(0, None, f"{type(e).__name__}: {e}")
    except Exception as e:  # never let a send crash the conversation
        logger.exception("Unexpected error calling %s", url.split("?")[0])
        return HttpResult(0, None, f"{type(e).__name__}: {e}")


async def _result(resp: aiohttp.ClientResponse) -> HttpResult:
    body = await resp.text()
    try:
        data = json.loads(body) if body else None
    except ValueError:
        return HttpResult(resp.status, None, f"non-JSON response: {body[:200]!r}")
    return HttpResult(resp.status, data)
