"""Passwords, OTPs and passcodes are redacted at the input of every channel.

Neither the UserMessage handed to Rasa (tracker, NLU), nor a mailbox/outbox, nor the logs
may hold the secret; button payloads and numbered answers pass unchanged; the metadata says
when something was redacted.
"""

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from aioresponses import aioresponses
from channel_testkit import FakeAgent, build_app, webchat_token
from rasa.core.channels.channel import UserMessage

from bot.channels import messenger as messenger_module
from bot.channels import zalo as zalo_module
from bot.channels import zalo_signature
from bot.channels.redaction import redacting
from core.privacy import REDACTED_METADATA_KEY, is_intent_payload, mark_redacted, redact_user_text
from bot.channels.socket_io import SocketIOInput
from bot.channels.webchat import WebChatConfig, WebChatInput
from core.privacy import REDACTED

pytestmark = pytest.mark.asyncio

SECRET = "Abc@12345"
OTP = "482913"
PASSWORD_TEXT = f"mật khẩu là {SECRET} mà không đăng nhập được"
OTP_TEXT = f"mã OTP {OTP} báo sai"


def assert_no_secret(*texts: Any) -> None:
    for text in texts:
        assert SECRET not in str(text) and OTP not in str(text), text


def db_bytes(path: Path) -> bytes:
    """The SQLite file and its WAL (where recent writes sit) as bytes."""
    data = b""
    for candidate in (path, Path(f"{path}-wal")):
        if candidate.exists():
            data += candidate.read_bytes()
    return data


# --------------------------------------------------------------------------- #
# The helpers
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "text, expected",
    [
        (PASSWORD_TEXT, f"mật khẩu là {REDACTED} mà không đăng nhập được"),
        (OTP_TEXT, f"mã OTP {REDACTED} báo sai"),
        ("mk: hoa2024!", f"mk: {REDACTED}"),
        # typed text that starts with a slash is not a payload
        ("/ mật khẩu là abc123", f"/ mật khẩu là {REDACTED}"),
        ("/otp là 123456", f"/otp là {REDACTED}"),
    ],
)
async def test_secrets_are_redacted_and_flagged(text: str, expected: str) -> None:
    assert redact_user_text(text) == (expected, True)


@pytest.mark.parametrize(
    "text",
    [
        "/request_human",
        '/choose_topic{"topic_id": "vneid_forgot_password"}',
        "/feedback_helpful@0.9",
        '/inform{"x": "mật khẩu là abc123"}',  # a payload is never rewritten (its JSON would break)
        "quên mật khẩu vneid thì làm sao",
        "2",
        "123456",
        f"mật khẩu là {REDACTED}",  # the citizen typed the marker itself: nothing new hidden
        "",
    ],
)
async def test_payloads_and_harmless_text_pass_unchanged(text: str) -> None:
    out, redacted = redact_user_text(text)
    assert out is text and redacted is False


async def test_non_strings_and_non_nfc_text() -> None:
    assert redact_user_text(None) == (None, False)
    assert redact_user_text(42) == (42, False)
    decomposed = "que\u0302n ma\u0323\u0302t kha\u0309u"  # NFD, nothing to hide: left as typed
    assert redact_user_text(decomposed) == (decomposed, False)
    assert is_intent_payload("  /request_human  ")
    assert not is_intent_payload("/request human")


async def test_mark_redacted_owns_the_flag() -> None:
    assert mark_redacted(None, True) == {REDACTED_METADATA_KEY: True}
    meta = {"a": 1}
    assert mark_redacted(meta, True) == {"a": 1, REDACTED_METADATA_KEY: True}
    assert meta == {"a": 1}  # the caller's dict is not modified
    # a client cannot claim it
    assert mark_redacted({"a": 1, REDACTED_METADATA_KEY: True}, False) == {"a": 1}
    assert mark_redacted(None, False) is None


async def test_redacting_wrapper() -> None:
    seen: list[UserMessage] = []

    async def on_new_message(message: UserMessage) -> None:
        seen.append(message)

    handler = redacting(on_new_message)
    await handler(UserMessage(OTP_TEXT, None, "s1", metadata={"k": "v"}))
    await handler(UserMessage("/request_human", None, "s1"))
    assert seen[0].text == f"mã OTP {REDACTED} báo sai"
    assert seen[0].metadata == {"k": "v", REDACTED_METADATA_KEY: True}
    assert seen[1].text == "/request_human" and not seen[1].metadata


# --------------------------------------------------------------------------- #
# Web chat
# --------------------------------------------------------------------------- #


def webchat_send(message: str, client_msg_id: str, **extra: str) -> dict[str, Any]:
    payload = {"sender": "w-redact", "message": message, "client_msg_id": client_msg_id, **extra}
    return {
        "body": json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        "headers": {"Content-Type": "application/json", "X-Webchat-Token": webchat_token("w-redact")},
    }


async def test_webchat_redacts_message_and_display(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "webchat.sqlite3"
    channel = WebChatInput(WebChatConfig(db_path=str(db)))
    _, agent, client = build_app(channel)

    assert (await client.post("/webhooks/webchat/send", **webchat_send(PASSWORD_TEXT, "m-1"))).status == 202
    assert (
        await client.post(
            "/webhooks/webchat/send",
            **webchat_send("/request_human", "m-2", display="Gặp tổng đài viên"),
        )
    ).status == 202
    assert (
        await client.post(
            "/webhooks/webchat/send",
            **webchat_send(f"OTP {OTP}", "m-3", display=f"OTP của tôi là {OTP}"),
        )
    ).status == 202
    await channel.wait_idle()

    first, button, third = agent.messages
    assert first.text == f"mật khẩu là {REDACTED} mà không đăng nhập được"
    assert first.metadata == {"webchat": {"client_msg_id": "m-1"}, REDACTED_METADATA_KEY: True}
    assert button.text == "/request_human"
    assert REDACTED_METADATA_KEY not in button.metadata
    assert third.text == f"OTP {REDACTED}" and third.metadata[REDACTED_METADATA_KEY] is True

    poll = await client.get(
        "/webhooks/webchat/poll",
        query={"sender": "w-redact", "after": "0"},
        headers={"X-Webchat-Token": webchat_token("w-redact")},
    )
    shown = [e["text"] for e in poll.json()["events"]]
    assert shown == [
        f"mật khẩu là {REDACTED} mà không đăng nhập được",
        "Gặp tổng đài viên",
        f"OTP của tôi là {REDACTED}",
    ]
    channel.mailbox.close()
    assert_no_secret(shown, db_bytes(db), caplog.text)
    # a new channel on the same file (a restart) reads the redacted history
    again = WebChatInput(WebChatConfig(db_path=str(db)))
    assert [e["text"] for e in again.mailbox.events_after("w-redact", 0)] == shown


# --------------------------------------------------------------------------- #
# Zalo
# --------------------------------------------------------------------------- #


def zalo_event(text: str, msg_id: str) -> dict[str, Any]:
    body = {
        "app_id": "app-1",
        "event_name": "user_send_text",
        "timestamp": "1718000000000",
        "sender": {"id": "zalo-user"},
        "recipient": {"id": "oa-1"},
        "message": {"msg_id": msg_id, "text": text},
    }
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    mac = zalo_signature.compute_signature("app-1", raw, body["timestamp"], "oa-secret")
    return {"body": raw, "headers": {"X-ZEvent-Signature": mac, "Content-Type": "application/json"}}


async def test_zalo_redacts_text_and_numbered_answers_still_work(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = zalo_module.ZaloConfig(
        app_id="app-1",
        oa_secret_key="oa-secret",
        dry_run=True,
        token_file=str(tmp_path / "tokens.json"),
        timestamp_window=0,
    )
    channel = zalo_module.ZaloInput(config)
    _, agent, client = build_app(channel)

    assert (await client.post("/webhooks/zalo/webhook", **zalo_event(OTP_TEXT, "z-1"))).status == 200
    # a numbered list, then the citizen answers "2"
    buttons = [{"title": f"Lựa chọn {i}", "payload": f"/choice_{i}"} for i in range(1, 7)]
    await channel.get_output_channel().send_text_with_buttons("zalo-user", "Chọn:", buttons)
    assert (await client.post("/webhooks/zalo/webhook", **zalo_event("2", "z-2"))).status == 200
    await channel.wait_idle()

    otp, answer = agent.messages
    assert otp.text == f"mã OTP {REDACTED} báo sai"
    assert otp.metadata[REDACTED_METADATA_KEY] is True
    assert otp.metadata["zalo"]["msg_id"] == "z-1"
    assert answer.text == "/choice_2"
    assert REDACTED_METADATA_KEY not in answer.metadata
    assert_no_secret(caplog.text)


# --------------------------------------------------------------------------- #
# Messenger
# --------------------------------------------------------------------------- #


def messenger_batch(*events: dict[str, Any]) -> dict[str, Any]:
    payload = {"object": "page", "entry": [{"id": "page-1", "time": 1, "messaging": list(events)}]}
    raw = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return {
        "body": raw,
        "headers": {
            "X-Hub-Signature-256": messenger_module.compute_signature("fb-secret", raw),
            "Content-Type": "application/json",
        },
    }


async def test_messenger_redacts_text_keeps_payloads_and_logs_no_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = messenger_module.MessengerInput(
        messenger_module.MessengerConfig(verify_token="v", app_secret="fb-secret", dry_run=True)
    )
    _, agent, client = build_app(channel)
    no_mid = {"sender": {"id": "psid-1"}, "timestamp": 5, "message": {"text": PASSWORD_TEXT}}
    quick_reply = {
        "sender": {"id": "psid-1"},
        "timestamp": 6,
        "message": {"mid": "mid.qr", "text": "Gặp tổng đài viên", "quick_reply": {"payload": "/request_human"}},
    }
    with aioresponses():
        # the same event twice (no mid: deduped on a key that is logged)
        assert (await client.post("/webhooks/messenger/webhook", **messenger_batch(no_mid, no_mid))).status == 200
        assert (await client.post("/webhooks/messenger/webhook", **messenger_batch(quick_reply))).status == 200
        await channel.wait_idle()

    password, button = agent.messages
    assert password.text == f"mật khẩu là {REDACTED} mà không đăng nhập được"
    assert password.metadata[REDACTED_METADATA_KEY] is True
    assert button.text == "/request_human"
    assert REDACTED_METADATA_KEY not in button.metadata
    assert "duplicate event" in caplog.text
    assert_no_secret(caplog.text)


# --------------------------------------------------------------------------- #
# socket.io
# --------------------------------------------------------------------------- #


async def test_socketio_messages_are_redacted() -> None:
    channel = SocketIOInput()
    assert channel.name() == "socketio"
    agent = FakeAgent()
    channel.blueprint(agent.handle_message)
    handler = channel.sio.handlers["/"]["user_uttered"]
    await handler("sid-1", {"message": OTP_TEXT})
    await handler("sid-1", {"message": '/choose_topic{"topic_id": "t1"}'})
    otp, payload = agent.messages
    assert otp.text == f"mã OTP {REDACTED} báo sai"
    assert otp.metadata[REDACTED_METADATA_KEY] is True
    assert payload.text == '/choose_topic{"topic_id": "t1"}'
