"""Helpers for the Zalo channel tests: the test app's configuration, recorded events, signing."""

import json
from pathlib import Path
from typing import Any

from aioresponses import aioresponses
from yarl import URL

from bot.channels.zalo import (
    ZALO_OAUTH_URL,
    ZALO_SEND_URL,
    ZaloConfig,
)
from bot.channels.zalo_signature import compute_signature

APP_ID = "4291763606161179100"
OA_SECRET = "oa-secret-for-tests"
APP_SECRET = "app-secret-for-tests"
WEBHOOK = "/webhooks/zalo/webhook"
SEND_KEY = ("POST", URL(ZALO_SEND_URL))
OAUTH_KEY = ("POST", URL(ZALO_OAUTH_URL))
OK = {"error": 0, "message": "Success", "data": {"message_id": "x"}}


def make_config(tmp_path: Path, **overrides: Any) -> ZaloConfig:
    values: dict[str, Any] = {
        "app_id": APP_ID,
        "oa_secret_key": OA_SECRET,
        "access_token": "access-1",
        "refresh_token": "refresh-1",
        "app_secret": APP_SECRET,
        "token_file": str(tmp_path / "zalo_tokens.json"),
        "timestamp_window": 0,  # the recorded events' fixed timestamps (window: test_channel_security)
    }
    values.update(overrides)
    return ZaloConfig(**values)


def event(
    event_name: str = "user_send_text",
    text: str | None = "Làm căn cước công dân ở đâu?",
    msg_id: str | None = "msg-1",
    user: str = "user-1",
    timestamp: str = "1718000000000",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "app_id": APP_ID,
        "user_id_by_app": "by-app-1",
        "event_name": event_name,
        "timestamp": timestamp,
        "sender": {"id": user},
        "recipient": {"id": "oa-1"},
    }
    if event_name in ("follow", "unfollow"):
        body.pop("sender")
        body["follower"] = {"id": user}
        body["oa_id"] = "oa-1"
    elif event_name == "user_send_sticker":
        body["message"] = {
            "msg_id": msg_id,
            "attachments": [{"type": "sticker", "payload": {"id": "abc"}}],
        }
    else:
        message: dict[str, Any] = {}
        if text is not None:
            message["text"] = text
        if msg_id is not None:
            message["msg_id"] = msg_id
        body["message"] = message
    return body


def signed(body: dict[str, Any], secret: str = OA_SECRET) -> dict[str, Any]:
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    signature = compute_signature(APP_ID, raw, str(body["timestamp"]), secret)
    return {
        "body": raw,
        "headers": {
            "X-ZEvent-Signature": signature,
            "Content-Type": "application/json",
        },
    }


def sent_bodies(m: aioresponses) -> list[dict[str, Any]]:
    return [call.kwargs["json"] for call in m.requests.get(SEND_KEY, [])]
