import json
import logging
import re
from typing import Any

import pytest
from aioresponses import aioresponses
from channel_testkit import build_app

from bot.channels.delivery import NON_TEXT_REPLY, NUMBERED_CHOICE_HINT
from bot.channels.messenger import (
    MAX_QUICK_REPLY_TITLE,
    MAX_TEXT_LENGTH,
    MessengerConfig,
    MessengerInput,
    MessengerOutput,
    compute_signature,
)

pytestmark = pytest.mark.asyncio

APP_SECRET = "fb-app-secret-for-tests"
VERIFY_TOKEN = "verify-me"
PAGE_TOKEN = "page-token"
WEBHOOK = "/webhooks/messenger/webhook"
SEND_URL = re.compile(r"^https://graph\.facebook\.com/v19\.0/me/messages(\?.*)?$")
OK = {"recipient_id": "psid", "message_id": "m_sent"}


def make_config(**overrides: Any) -> MessengerConfig:
    values: dict[str, Any] = {
        "verify_token": VERIFY_TOKEN,
        "app_secret": APP_SECRET,
        "page_access_token": PAGE_TOKEN,
    }
    values.update(overrides)
    return MessengerConfig(**values)


def text_event(text: str, mid: str, psid: str = "psid-1", **message: Any) -> dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": "page-1"},
        "timestamp": 1718000000000,
        "message": {"mid": mid, "text": text, **message},
    }


def batch(*entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "page",
        "entry": [{"id": "page-1", "time": 1718000000000, "messaging": events} for events in entries],
    }


def signed(payload: Any, secret: str = APP_SECRET) -> dict[str, Any]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    return {
        "body": raw,
        "headers": {
            "X-Hub-Signature-256": compute_signature(secret, raw),
            "Content-Type": "application/json",
        },
    }


def sent(m: aioresponses) -> list[dict[str, Any]]:
    calls = []
    for (method, url), requests in m.requests.items():
        if method == "POST" and SEND_URL.match(str(url)):
            for call in requests:
                assert url.query.get("access_token") == PAGE_TOKEN
                calls.append(call.kwargs["json"])
    return calls


# --------------------------------------------------------------------------- #
# Verification handshake
# --------------------------------------------------------------------------- #


async def test_verify_handshake_good() -> None:
    _, _, client = build_app(MessengerInput(make_config()))
    resp = await client.get(
        WEBHOOK,
        query={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert resp.status == 200
    assert resp.text == "1158201444"


@pytest.mark.parametrize(
    "query,status",
    [
        (
            {
                "hub.mode": "subscribe",
                "hub.verify_token": "wrong",
                "hub.challenge": "c",
            },
            403,
        ),
        (
            {
                "hub.mode": "unsubscribe",
                "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "c",
            },
            403,
        ),
        ({"hub.mode": "subscribe", "hub.challenge": "c"}, 400),
        ({}, 400),
    ],
)
async def test_verify_handshake_bad(query: dict[str, str], status: int) -> None:
    _, _, client = build_app(MessengerInput(make_config()))
    resp = await client.get(WEBHOOK, query=query)
    assert resp.status == status
    assert resp.json()["error"]
    assert "c" != resp.text


async def test_verify_without_configured_token_fails() -> None:
    _, _, client = build_app(MessengerInput(make_config(verify_token=None)))
    resp = await client.get(
        WEBHOOK,
        query={
            "hub.mode": "subscribe",
            "hub.verify_token": "anything",
            "hub.challenge": "c",
        },
    )
    assert resp.status == 403


# --------------------------------------------------------------------------- #
# Webhook events
# --------------------------------------------------------------------------- #


async def test_good_signature_reaches_rasa_and_reply_is_sent() -> None:
    channel = MessengerInput(make_config())
    _, agent, client = build_app(channel)
    agent.reply = "Bạn có thể nộp hồ sơ trên Cổng dịch vụ công."
    with aioresponses() as m:
        m.post(SEND_URL, payload=OK)
        resp = await client.post(WEBHOOK, **signed(batch([text_event("Nộp hồ sơ ở đâu?", "mid.1")])))
        assert resp.status == 200, resp.text
        await channel.wait_idle()
        bodies = sent(m)
    assert [(msg.text, msg.sender_id, msg.message_id, msg.input_channel) for msg in agent.messages] == [
        ("Nộp hồ sơ ở đâu?", "messenger:psid-1", "mid.1", "messenger")
    ]
    assert isinstance(agent.messages[0].output_channel, MessengerOutput)
    assert agent.messages[0].metadata["messenger"]["page_id"] == "page-1"
    assert bodies == [
        {
            "recipient": {"id": "psid-1"},
            "messaging_type": "RESPONSE",
            "message": {"text": "Bạn có thể nộp hồ sơ trên Cổng dịch vụ công."},
        }
    ]


@pytest.mark.parametrize(
    "headers,error",
    [
        ({}, "missing_signature"),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, "invalid_signature"),
        ({"X-Hub-Signature-256": "sha1=abc"}, "invalid_signature"),
        ({"X-Hub-Signature": "sha1=abc"}, "missing_signature"),
    ],
)
async def test_bad_or_missing_signature_403(headers: dict[str, str], error: str) -> None:
    channel = MessengerInput(make_config())
    _, agent, client = build_app(channel)
    raw = json.dumps(batch([text_event("hi", "mid.x")])).encode()
    resp = await client.post(WEBHOOK, body=raw, headers={**headers, "Content-Type": "application/json"})
    assert resp.status == 403
    assert resp.json()["error"] == error
    await channel.wait_idle()
    assert agent.messages == []


async def test_wrong_secret_and_no_secret_403() -> None:
    channel = MessengerInput(make_config())
    _, _, client = build_app(channel)
    resp = await client.post(WEBHOOK, **signed(batch([text_event("hi", "mid.x")]), secret="other"))
    assert resp.status == 403

    channel = MessengerInput(make_config(app_secret=None))
    _, _, client = build_app(channel)
    resp = await client.post(WEBHOOK, **signed(batch([text_event("hi", "mid.x")])))
    assert resp.status == 403
    assert resp.json()["error"] == "signature_not_configured"


@pytest.mark.parametrize("raw", [b"{broken", b"\xff", b"[]", b"null"])
async def test_malformed_json_400(raw: bytes) -> None:
    channel = MessengerInput(make_config())
    _, _, client = build_app(channel)
    resp = await client.post(WEBHOOK, **signed(raw))
    assert resp.status == 400
    assert resp.json()["error"] in ("invalid_json", "invalid_payload")


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "page"},
        {"object": "page", "entry": {"messaging": []}},
        {"object": "page", "entry": ["x"]},
        {"object": "page", "entry": [{"messaging": "x"}]},
        {"object": "page", "entry": [{"messaging": [1]}]},
    ],
)
async def test_structurally_invalid_payload_400(payload: dict[str, Any]) -> None:
    channel = MessengerInput(make_config())
    _, _, client = build_app(channel)
    resp = await client.post(WEBHOOK, **signed(payload))
    assert resp.status == 400
    assert resp.json()["error"] == "invalid_payload"


async def test_batch_with_three_events_gives_three_messages() -> None:
    channel = MessengerInput(make_config())
    _, agent, client = build_app(channel)
    payload = batch(
        [
            text_event("Xin chào", "mid.a", psid="p1"),
            text_event("Đổi CCCD", "mid.b", psid="p2", quick_reply={"payload": "/ask_cccd"}),
        ],
        [
            {
                "sender": {"id": "p1"},
                "recipient": {"id": "page-1"},
                "timestamp": 1718000000001,
                "postback": {"title": "Bắt đầu", "payload": "/greet", "mid": "mid.c"},
            },
            # Ignored: echo of the page's own message, delivery and read receipts.
            {
                "sender": {"id": "page-1"},
                "recipient": {"id": "p1"},
                "message": {"mid": "mid.echo", "text": "hi", "is_echo": True},
            },
            {
                "sender": {"id": "p1"},
                "recipient": {"id": "page-1"},
                "delivery": {"mids": ["mid.echo"], "watermark": 1},
            },
            {
                "sender": {"id": "p1"},
                "recipient": {"id": "page-1"},
                "read": {"watermark": 1},
            },
        ],
    )
    resp = await client.post(WEBHOOK, **signed(payload))
    assert resp.status == 200
    assert resp.json() == {"status": "EVENT_RECEIVED", "accepted": 3}
    await channel.wait_idle()
    got = sorted((m.sender_id, m.text) for m in agent.messages)
    assert got == [("messenger:p1", "/greet"), ("messenger:p1", "Xin chào"), ("messenger:p2", "/ask_cccd")]
    # Per-user ordering is preserved.
    assert [m.text for m in agent.messages if m.sender_id == "messenger:p1"] == [
        "Xin chào",
        "/greet",
    ]


async def test_replayed_mid_processed_once() -> None:
    channel = MessengerInput(make_config())
    _, agent, client = build_app(channel)
    req = signed(batch([text_event("Xin chào", "mid.same")]))
    assert (await client.post(WEBHOOK, **req)).status == 200
    assert (await client.post(WEBHOOK, **req)).status == 200
    # Same mid inside one batch, too.
    resp = await client.post(
        WEBHOOK,
        **signed(batch([text_event("Lặp", "mid.twice"), text_event("Lặp", "mid.twice")])),
    )
    assert resp.json()["accepted"] == 1
    await channel.wait_idle()
    assert [m.text for m in agent.messages] == ["Xin chào", "Lặp"]


async def test_non_page_object_acknowledged_and_ignored() -> None:
    channel = MessengerInput(make_config())
    _, _, client = build_app(channel)
    resp = await client.post(WEBHOOK, **signed({"object": "instagram", "entry": []}))
    assert resp.status == 200
    assert resp.json()["status"] == "ignored"


async def test_attachment_gets_polite_reply() -> None:
    channel = MessengerInput(make_config())
    _, agent, client = build_app(channel)
    event = {
        "sender": {"id": "p1"},
        "recipient": {"id": "page-1"},
        "message": {
            "mid": "mid.img",
            "attachments": [{"type": "image", "payload": {"url": "https://x/y.png"}}],
        },
    }
    with aioresponses() as m:
        m.post(SEND_URL, payload=OK)
        assert (await client.post(WEBHOOK, **signed(batch([event])))).status == 200
        await channel.wait_idle()
        bodies = sent(m)
    assert agent.messages == []
    assert bodies[0]["message"] == {"text": NON_TEXT_REPLY}


# --------------------------------------------------------------------------- #
# Output
# --------------------------------------------------------------------------- #


async def test_long_text_split_at_2000() -> None:
    output = MessengerOutput(make_config())
    text = "\n".join(f"Bước {i}: chuẩn bị giấy tờ và nộp trực tuyến." for i in range(120))
    assert len(text) > MAX_TEXT_LENGTH * 2
    with aioresponses() as m:
        m.post(SEND_URL, payload=OK, repeat=True)
        assert await output.send_text_message("p1", text) is True
        bodies = sent(m)
    parts = [b["message"]["text"] for b in bodies]
    assert len(parts) == 3
    assert all(len(p) <= MAX_TEXT_LENGTH for p in parts)
    assert "\n".join(parts) == text  # cut on line boundaries, nothing lost


async def test_buttons_become_quick_replies() -> None:
    output = MessengerOutput(make_config())
    buttons = [
        {"title": "Cấp lại căn cước công dân gắn chip", "payload": "/ask_cccd"},
        {"title": "VNeID", "payload": '/ask_vneid{"level": "2"}'},
    ]
    with aioresponses() as m:
        m.post(SEND_URL, payload=OK)
        await output.send_response("p1", {"text": "Bạn cần hỗ trợ gì?", "buttons": buttons})
        bodies = sent(m)
    quick = bodies[0]["message"]["quick_replies"]
    assert bodies[0]["messaging_type"] == "RESPONSE"
    assert bodies[0]["message"]["text"] == "Bạn cần hỗ trợ gì?"
    assert [q["payload"] for q in quick] == ["/ask_cccd", '/ask_vneid{"level": "2"}']
    assert all(q["content_type"] == "text" for q in quick)
    assert all(len(q["title"]) <= MAX_QUICK_REPLY_TITLE for q in quick)
    assert quick[0]["title"] == "Cấp lại căn cước…"
    assert quick[1]["title"] == "VNeID"


async def test_more_than_13_buttons_numbered_and_answer_mapped() -> None:
    channel = MessengerInput(make_config())
    _, agent, client = build_app(channel)
    buttons = [{"title": f"Thủ tục {i}", "payload": f"/proc_{i}"} for i in range(1, 15)]
    with aioresponses() as m:
        m.post(SEND_URL, payload=OK)
        await channel.get_output_channel().send_text_with_buttons("p1", "Chọn:", buttons)
        bodies = sent(m)
    message = bodies[0]["message"]
    assert "quick_replies" not in message
    assert NUMBERED_CHOICE_HINT in message["text"]
    assert "14. Thủ tục 14" in message["text"]

    await client.post(WEBHOOK, **signed(batch([text_event("14", "mid.answer", psid="p1")])))
    await channel.wait_idle()
    assert agent.messages[-1].text == "/proc_14"


async def test_human_agent_tag() -> None:
    channel = MessengerInput(make_config())
    output = channel.get_output_channel()  # as used by /conversations/{id}/execute
    assert output.name() == "messenger"
    with aioresponses() as m:
        m.post(SEND_URL, payload=OK, repeat=True)
        assert await output.send_agent_message("p1", "Chào anh, tôi là cán bộ hỗ trợ.") is True
        await output.send_response("p1", {"text": "Hồ sơ đã được duyệt.", "custom": {"human_agent": True}})
        await output.send_response("p1", {"custom": {"human_agent": True, "text": "Còn gì nữa không ạ?"}})
        await output.send_response("p1", {"text": "Tin của bot."})
        bodies = sent(m)
    assert [(b.get("messaging_type"), b.get("tag"), b["message"]["text"]) for b in bodies] == [
        ("MESSAGE_TAG", "HUMAN_AGENT", "Chào anh, tôi là cán bộ hỗ trợ."),
        ("MESSAGE_TAG", "HUMAN_AGENT", "Hồ sơ đã được duyệt."),
        ("MESSAGE_TAG", "HUMAN_AGENT", "Còn gì nữa không ạ?"),
        ("RESPONSE", None, "Tin của bot."),
    ]


async def test_send_api_error_is_failure(caplog: pytest.LogCaptureFixture) -> None:
    output = MessengerOutput(make_config())
    with aioresponses() as m:
        m.post(
            SEND_URL,
            status=400,
            payload={
                "error": {
                    "message": "Invalid OAuth access token.",
                    "type": "OAuthException",
                    "code": 190,
                }
            },
        )
        assert await output.send_text_message("p1", "Xin chào") is False
        m.post(SEND_URL, exception=ConnectionError("offline"))
        assert await output.send_text_message("p1", "Xin chào") is False
    assert "code=190" in caplog.text


async def test_dry_run_without_page_token(caplog: pytest.LogCaptureFixture) -> None:
    channel = MessengerInput.from_credentials(None)  # fresh clone, nothing configured
    output = channel.get_output_channel()
    assert output.dry_run is True
    caplog.set_level(logging.DEBUG, logger="bot.channels.messenger")
    with aioresponses() as m:
        assert await output.send_text_message("p1", "Xin chào") is True
        assert m.requests == {}
    assert "[messenger dry-run]" in caplog.text


async def test_config_from_env_and_rasa_aliases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FB_VERIFY_TOKEN", "env-verify")
    monkeypatch.setenv("FB_APP_SECRET", "env-secret")
    monkeypatch.setenv("FB_PAGE_ACCESS_TOKEN", "env-page")
    monkeypatch.setenv("FB_DRY_RUN", "1")
    config = MessengerConfig.from_credentials({"secret": "yml-secret"})
    assert (config.verify_token, config.app_secret, config.page_access_token) == (
        "env-verify",
        "yml-secret",
        "env-page",
    )
    assert config.dry_run is True
    assert MessengerOutput(config).dry_run is True
