"""Test helpers for the channel tests: a Sanic app driven in-process over ASGI.

We deliberately do not use sanic-testing (its httpx/h11 pins conflict with
other packages in the environment); a small ASGI driver is enough.
Kept out of conftest.py under a unique name so that ``import`` cannot pick up
another directory's conftest module.
"""

import json
import uuid
from typing import Any
from urllib.parse import urlencode

from rasa.core.channels.channel import InputChannel, UserMessage, register
from sanic import Sanic


class FakeAgent:
    """Stands in for ``rasa.core.agent.Agent``: records messages, can reply."""

    def __init__(self) -> None:
        self.messages: list[UserMessage] = []
        self.reply: str | None = None

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)
        if self.reply:
            await message.output_channel.send_text_message(message.sender_id, self.reply)


class AsgiResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


class AsgiClient:
    """Sends requests straight into the Sanic ASGI app in the current loop."""

    def __init__(self, app: Sanic) -> None:
        self.app = app
        self._started = False

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> AsgiResponse:
        if not self._started:
            self.app.asgi = True
            await self.app._startup()
            self._started = True
        raw_headers: list[tuple[bytes, bytes]] = [
            (b"host", b"testserver"),
            (b"content-length", str(len(body)).encode()),
        ]
        for key, value in (headers or {}).items():
            raw_headers.append((key.lower().encode("latin-1"), value.encode("latin-1")))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method.upper(),
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": urlencode(query or {}).encode(),
            "headers": raw_headers,
            "client": ("127.0.0.1", 12345),
            "server": ("testserver", 80),
        }
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        status = 0
        resp_headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for k, v in message.get("headers", []):
                    resp_headers[k.decode("latin-1").lower()] = v.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return AsgiResponse(status, resp_headers, b"".join(chunks))

    async def get(self, path: str, **kwargs: Any) -> AsgiResponse:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> AsgiResponse:
        return await self.request("POST", path, **kwargs)


def webchat_token(sender: str) -> str:
    """The token the web chat issued with ``sender`` (under the tests' WEBCHAT_SECRET)."""
    from bot.channels.webchat_auth import Binder

    return Binder(b"test-webchat-secret").token(sender)


def build_app(channel: InputChannel) -> tuple[Sanic, FakeAgent, AsgiClient]:
    """Registers ``channel`` exactly like ``rasa run`` does (``/webhooks/``)."""
    app = Sanic(f"test_{channel.name()}_{uuid.uuid4().hex[:8]}")
    agent = FakeAgent()
    app.ctx.agent = agent
    register([channel], app, route="/webhooks/")
    return app, agent, AsgiClient(app)
