"""Helpers for the web chat channel tests: the channel on a test database, requests, scripted agents."""

import asyncio
import json
from pathlib import Path
from typing import Any

from channel_testkit import FakeAgent, webchat_token
from rasa.core.channels.channel import UserMessage

from bot.channels.webchat import WebChatConfig, WebChatInput

SEND = "/webhooks/webchat/send"
POLL = "/webhooks/webchat/poll"
SENDER = "w-0123456789abcdef0123456789abcdef"


def make_channel(tmp_path: Path, **overrides: Any) -> WebChatInput:
    values: dict[str, Any] = {"db_path": str(tmp_path / "webchat.sqlite3")}
    values.update(overrides)
    return WebChatInput(WebChatConfig(**values))


def body(message: str = "quên mật khẩu vneid", **extra: Any) -> dict[str, Any]:
    payload = {"sender": SENDER, "message": message, "client_msg_id": "m-1"}
    payload.update(extra)
    return {
        "body": json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        "headers": {"Content-Type": "application/json", "X-Webchat-Token": webchat_token(SENDER)},
    }


TOKEN = {"X-Webchat-Token": webchat_token(SENDER)}


async def poll(client: Any, after: int = 0, wait: float = 0, **extra: str) -> dict[str, Any]:
    query = {"sender": SENDER, "after": str(after), "wait": str(wait), **extra}
    resp = await client.get(POLL, query=query, headers=TOKEN)
    assert resp.status == 200, resp.text
    return resp.json()


class ScriptedAgent(FakeAgent):
    """Answers every message with Rasa-style bot messages through ``send_response``."""

    def __init__(self, responses: list[dict[str, Any]]) -> None:
        super().__init__()
        self.responses = responses
        self.gate: asyncio.Event | None = None

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)
        if self.gate is not None:
            await self.gate.wait()
        for response in self.responses:
            await message.output_channel.send_response(message.sender_id, dict(response))


class FailingAgent(FakeAgent):
    async def handle_message(self, message: UserMessage) -> None:
        raise RuntimeError("action server down")
