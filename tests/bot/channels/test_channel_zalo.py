"""The Zalo OA channel's webhook: signature, parsing, dedupe, events, processing."""

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from aioresponses import aioresponses
from channel_testkit import build_app
from zalo_testkit import (
    APP_ID,
    OA_SECRET,
    OK,
    SEND_KEY,
    WEBHOOK,
    event,
    make_config,
    sent_bodies,
    signed,
)

from bot.channels.delivery import NON_TEXT_REPLY
from bot.channels.zalo import (
    ZALO_SEND_URL,
    ZaloInput,
    ZaloOutput,
)
from bot.channels.zalo_signature import compute_signature

pytestmark = pytest.mark.asyncio


# --------------------------------------------------------------------------- #
# Webhook: signature, parsing, dedup
# --------------------------------------------------------------------------- #


async def test_good_signature_reaches_rasa(tmp_path: Path) -> None:
    channel = ZaloInput(make_config(tmp_path))
    _, agent, client = build_app(channel)

    resp = await client.post(WEBHOOK, **signed(event()))
    assert resp.status == 200, resp.text
    await channel.wait_idle()

    assert len(agent.messages) == 1
    msg = agent.messages[0]
    assert msg.text == "Làm căn cước công dân ở đâu?"
    assert msg.sender_id == "zalo:user-1"
    assert msg.message_id == "msg-1"
    assert msg.input_channel == "zalo"
    assert isinstance(msg.output_channel, ZaloOutput)
    assert msg.metadata["zalo"]["event_name"] == "user_send_text"
    assert msg.metadata["zalo"]["msg_id"] == "msg-1"


async def test_reply_from_rasa_is_sent_to_zalo(tmp_path: Path) -> None:
    channel = ZaloInput(make_config(tmp_path))
    _, agent, client = build_app(channel)
    agent.reply = "Bạn có thể làm tại công an cấp xã."
    with aioresponses() as m:
        m.post(ZALO_SEND_URL, payload=OK)
        resp = await client.post(WEBHOOK, **signed(event()))
        assert resp.status == 200
        await channel.wait_idle()
        bodies = sent_bodies(m)
        headers = m.requests[SEND_KEY][0].kwargs["headers"]
    assert bodies == [
        {
            "recipient": {"user_id": "user-1"},
            "message": {"text": "Bạn có thể làm tại công an cấp xã."},
        }
    ]
    assert headers["access_token"] == "access-1"


async def test_signature_prefix_case_and_configured_app_id(tmp_path: Path) -> None:
    channel = ZaloInput(make_config(tmp_path))
    _, _, client = build_app(channel)
    req = signed(event())
    req["headers"]["X-ZEvent-Signature"] = req["headers"]["X-ZEvent-Signature"].upper().replace("MAC=", "mac=")
    resp = await client.post(WEBHOOK, **req)
    assert resp.status == 200


@pytest.mark.parametrize(
    "headers,error",
    [
        ({}, "missing_signature"),
        ({"X-ZEvent-Signature": "mac=" + "0" * 64}, "invalid_signature"),
        ({"X-ZEvent-Signature": "garbage"}, "invalid_signature"),
    ],
)
async def test_bad_or_missing_signature_rejected(tmp_path: Path, headers: dict[str, str], error: str) -> None:
    channel = ZaloInput(make_config(tmp_path))
    _, agent, client = build_app(channel)
    raw = json.dumps(event()).encode()
    resp = await client.post(WEBHOOK, body=raw, headers={**headers, "Content-Type": "application/json"})
    assert resp.status == 401
    assert resp.json()["error"] == error
    await channel.wait_idle()
    assert agent.messages == []


async def test_signature_with_wrong_secret_or_tampered_body_rejected(
    tmp_path: Path,
) -> None:
    channel = ZaloInput(make_config(tmp_path))
    _, agent, client = build_app(channel)
    resp = await client.post(WEBHOOK, **signed(event(), secret="other-secret"))
    assert resp.status == 401

    req = signed(event())
    req["body"] = req["body"].replace("căn cước".encode(), "hộ chiếu".encode())
    resp = await client.post(WEBHOOK, **req)
    assert resp.status == 401
    await channel.wait_idle()
    assert agent.messages == []


async def test_no_secret_configured_rejects_everything(tmp_path: Path) -> None:
    channel = ZaloInput(make_config(tmp_path, oa_secret_key=None))
    _, _, client = build_app(channel)
    resp = await client.post(WEBHOOK, **signed(event()))
    assert resp.status == 401
    assert resp.json()["error"] == "signature_not_configured"


async def test_replayed_msg_id_processed_once(tmp_path: Path) -> None:
    channel = ZaloInput(make_config(tmp_path))
    _, agent, client = build_app(channel)
    req = signed(event(msg_id="dup-1"))
    first = await client.post(WEBHOOK, **req)
    second = await client.post(WEBHOOK, **req)
    third = await client.post(WEBHOOK, **signed(event(msg_id="dup-1", timestamp="1718000009999")))
    assert (first.status, second.status, third.status) == (200, 200, 200)
    assert second.json()["status"] == "duplicate"
    assert third.json()["status"] == "duplicate"
    await channel.wait_idle()
    assert len(agent.messages) == 1


async def test_dedup_is_bounded(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config.dedup_capacity = 3
    channel = ZaloInput(config)
    _, agent, client = build_app(channel)
    for i in range(5):
        await client.post(WEBHOOK, **signed(event(msg_id=f"m{i}")))
    assert len(channel.seen_events) == 3
    # m0 left the memory (bounded), but the SQLite dedupe still knows it: not processed again.
    await client.post(WEBHOOK, **signed(event(msg_id="m0")))
    await channel.wait_idle()
    assert len(agent.messages) == 5


@pytest.mark.parametrize(
    "body,error",
    [
        (b'{"timestamp": "1718000000000", not json', "invalid_json"),
        (b'{"timestamp": "1718000000000"}\xff\xfe', "invalid_json"),
        (b'[{"timestamp": "1718000000000"}]', "invalid_payload"),
        (b'"timestamp": "1718000000000"', "invalid_json"),
    ],
)
async def test_malformed_signed_json_400(tmp_path: Path, body: bytes, error: str) -> None:
    channel = ZaloInput(make_config(tmp_path))
    _, _, client = build_app(channel)
    mac = compute_signature(APP_ID, body, "1718000000000", OA_SECRET)
    resp = await client.post(
        WEBHOOK, body=body, headers={"X-ZEvent-Signature": mac, "Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert resp.json()["error"] == error
    assert resp.json()["message"]


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe", b"[1, 2]", b'"text"'])
async def test_unsigned_garbage_is_never_parsed(tmp_path: Path, body: bytes) -> None:
    channel = ZaloInput(make_config(tmp_path))
    _, _, client = build_app(channel)
    resp = await client.post(
        WEBHOOK, body=body, headers={"X-ZEvent-Signature": "mac=" + "0" * 64, "Content-Type": "application/json"}
    )
    # no timestamp in the raw bytes -> 400 before any check; never "invalid_json" (not parsed)
    assert resp.status == 400 and resp.json()["error"] == "missing_field"


async def test_missing_fields_400(tmp_path: Path) -> None:
    channel = ZaloInput(make_config(tmp_path))
    _, agent, client = build_app(channel)

    no_ts = event()
    del no_ts["timestamp"]
    resp = await client.post(WEBHOOK, body=json.dumps(no_ts).encode(), headers={"Content-Type": "application/json"})
    assert resp.status == 400 and resp.json()["error"] == "missing_field"

    no_name = event()
    del no_name["event_name"]
    resp = await client.post(WEBHOOK, **signed(no_name))
    assert resp.status == 400 and resp.json()["error"] == "missing_field"

    resp = await client.post(WEBHOOK, **signed(event(text=None, msg_id="no-text")))
    assert resp.status == 400 and "message.text" in resp.json()["message"]

    no_sender = event(msg_id="no-sender")
    del no_sender["sender"]
    resp = await client.post(WEBHOOK, **signed(no_sender))
    assert resp.status == 400

    await channel.wait_idle()
    assert agent.messages == []


async def test_sticker_and_image_get_polite_reply(tmp_path: Path) -> None:
    channel = ZaloInput(make_config(tmp_path))
    _, agent, client = build_app(channel)
    with aioresponses() as m:
        m.post(ZALO_SEND_URL, payload=OK, repeat=True)
        resp = await client.post(WEBHOOK, **signed(event("user_send_sticker", msg_id="s1")))
        assert resp.status == 200
        resp = await client.post(WEBHOOK, **signed(event("user_send_image", text=None, msg_id="i1")))
        assert resp.status == 200
        await channel.wait_idle()
        bodies = sent_bodies(m)
    assert agent.messages == []
    assert [b["message"]["text"] for b in bodies] == [NON_TEXT_REPLY, NON_TEXT_REPLY]
    assert NON_TEXT_REPLY == ("Xin lỗi, hiện tôi chỉ đọc được tin nhắn chữ. Bạn vui lòng gõ câu hỏi nhé.")


async def test_follow_sends_greet_and_unfollow_only_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    channel = ZaloInput(make_config(tmp_path))
    _, agent, client = build_app(channel)
    caplog.set_level(logging.DEBUG, logger="bot.channels.zalo")

    resp = await client.post(WEBHOOK, **signed(event("follow", user="new-user")))
    assert resp.status == 200
    resp = await client.post(WEBHOOK, **signed(event("unfollow", user="old-user")))
    assert resp.status == 200
    await channel.wait_idle()

    assert [(m.text, m.sender_id) for m in agent.messages] == [("/greet", "zalo:new-user")]
    assert "old-user unfollowed" in caplog.text


async def test_oa_echo_and_unknown_events_ignored(tmp_path: Path) -> None:
    channel = ZaloInput(make_config(tmp_path))
    _, agent, client = build_app(channel)
    for name in (
        "oa_send_text",
        "user_seen_message",
        "user_received_message",
        "add_user_to_tag",
    ):
        resp = await client.post(WEBHOOK, **signed(event(name, msg_id=None)))
        assert resp.status == 200
        assert resp.json()["status"] == "ignored"
    await channel.wait_idle()
    assert agent.messages == []


async def test_health_endpoints(tmp_path: Path) -> None:
    channel = ZaloInput(make_config(tmp_path))
    _, _, client = build_app(channel)
    assert (await client.get("/webhooks/zalo/")).status == 200
    assert (await client.get(WEBHOOK)).status == 200


async def test_webhook_answers_before_processing_finishes(tmp_path: Path) -> None:
    channel = ZaloInput(make_config(tmp_path))
    app, _, client = build_app(channel)
    release = asyncio.Event()
    seen: list[str] = []

    async def slow_handle(message: Any) -> None:
        await release.wait()
        seen.append(message.text)

    app.ctx.agent.handle_message = slow_handle
    resp = await asyncio.wait_for(client.post(WEBHOOK, **signed(event())), timeout=2)
    assert resp.status == 200
    assert seen == []
    release.set()
    await channel.wait_idle()
    assert seen == ["Làm căn cước công dân ở đâu?"]


async def test_processing_error_is_contained(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    channel = ZaloInput(make_config(tmp_path))
    app, _, client = build_app(channel)

    async def broken(message: Any) -> None:
        raise RuntimeError("boom")

    app.ctx.agent.handle_message = broken
    resp = await client.post(WEBHOOK, **signed(event()))
    assert resp.status == 200
    await channel.wait_idle()
    assert "Failed to process Zalo text message" in caplog.text
