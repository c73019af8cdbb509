"""The web chat widget channel: send, long-poll, bad input."""

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from channel_testkit import build_app, webchat_token
from webchat_testkit import POLL, SEND, SENDER, TOKEN, FailingAgent, ScriptedAgent, body, make_channel, poll

from bot.channels.webchat import ERROR_REPLY, MAX_MESSAGE_CHARS
from bot.channels.webchat_output import WebChatOutput

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def no_webchat_db_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBCHAT_DB", raising=False)


# --------------------------------------------------------------------------- #
# send / dedupe / poll
# --------------------------------------------------------------------------- #


async def test_send_is_accepted_and_reaches_rasa_once_even_if_retried(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    agent.reply = "Bạn vào mục Quên mật khẩu trên ứng dụng VNeID."

    first = await client.post(SEND, **body())
    assert first.status == 202, first.text
    assert first.json() == {"status": "accepted", "id": 1}
    # the connection dropped before the browser saw the answer: it sends again, same id
    retry = await client.post(SEND, **body())
    assert retry.status == 202
    assert retry.json()["status"] == "duplicate"
    await channel.wait_idle()
    again = await client.post(SEND, **body())
    assert again.json()["status"] == "duplicate"
    await channel.wait_idle()

    assert len(agent.messages) == 1
    msg = agent.messages[0]
    assert msg.text == "quên mật khẩu vneid"
    assert msg.sender_id == SENDER
    assert msg.input_channel == "webchat"
    assert msg.message_id == "m-1"
    assert isinstance(msg.output_channel, WebChatOutput)

    events = (await poll(client))["events"]
    assert [(e["id"], e["type"], e["text"]) for e in events] == [
        (1, "user", "quên mật khẩu vneid"),
        (2, "bot", "Bạn vào mục Quên mật khẩu trên ứng dụng VNeID."),
    ]
    assert events[0]["client_msg_id"] == "m-1"


async def test_different_client_msg_ids_are_separate_messages(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    for i in range(3):
        resp = await client.post(SEND, **body(f"câu {i}", client_msg_id=f"m-{i}"))
        assert resp.status == 202
    await channel.wait_idle()
    assert [m.text for m in agent.messages] == ["câu 0", "câu 1", "câu 2"]  # in order


async def test_button_tap_sends_payload_and_echoes_title(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    payload = '/feedback_helpful{"topic_id": "vneid_forgot_password"}'
    resp = await client.post(SEND, **body(payload, display="👍 Có"))
    assert resp.status == 202
    await channel.wait_idle()
    assert agent.messages[0].text == payload
    assert (await poll(client))["events"][0]["text"] == "👍 Có"


async def test_poll_returns_only_events_after_the_given_id(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    agent.reply = "Trả lời"
    for i in range(3):
        await client.post(SEND, **body(f"câu {i}", client_msg_id=f"m-{i}"))
    await channel.wait_idle()

    everything = await poll(client)
    assert [e["id"] for e in everything["events"]] == [1, 2, 3, 4, 5, 6]
    assert everything["last_id"] == 6
    assert everything["busy"] is False
    assert everything["epoch"]
    later = await poll(client, after=4)
    assert [e["id"] for e in later["events"]] == [5, 6]
    assert (await poll(client, after=6))["events"] == []
    # another sender sees nothing of it
    other = await client.get(
        POLL, query={"sender": "w-other", "after": "0"}, headers={"X-Webchat-Token": webchat_token("w-other")}
    )
    assert other.json()["events"] == []


async def test_long_poll_wakes_when_a_message_arrives(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    agent.reply = "Đây là câu trả lời."

    started = time.monotonic()
    waiting = asyncio.ensure_future(poll(client, after=0, wait=20))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # nothing to deliver yet: the poll waits
    await client.post(SEND, **body())
    first = await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - started < 5
    assert [e["type"] for e in first["events"]][0] == "user"

    events = first["events"]
    if events[-1]["type"] == "user":  # the reply was not there yet: the next poll waits for it
        rest = await asyncio.wait_for(poll(client, after=events[-1]["id"], wait=20), 5)
        events = events + rest["events"]
    assert [(e["type"], e["text"]) for e in events] == [("user", "quên mật khẩu vneid"), ("bot", "Đây là câu trả lời.")]


async def test_long_poll_times_out_with_no_events(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, _, client = build_app(channel)
    started = time.monotonic()
    result = await poll(client, after=0, wait=0.3)
    assert result["events"] == [] and result["last_id"] == 0
    assert 0.25 <= time.monotonic() - started < 3


async def test_busy_flag_and_early_return_when_processing_ends(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    agent = ScriptedAgent([{"text": "Xong."}])
    agent.gate = asyncio.Event()
    app, _, client = build_app(channel)
    app.ctx.agent = agent

    await client.post(SEND, **body())
    state = await poll(client)
    assert state["busy"] is True and [e["id"] for e in state["events"]] == [1]
    # the widget believes the bot is busy: the poll returns as soon as it is not
    waiting = asyncio.ensure_future(poll(client, after=1, wait=20, busy="1"))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    agent.gate.set()
    result = await asyncio.wait_for(waiting, 5)
    await channel.wait_idle()
    if result["busy"]:  # woke on the reply itself; the next poll sees the end
        result = await asyncio.wait_for(poll(client, after=2, wait=20, busy="1"), 5)
    assert result["busy"] is False


async def test_processing_error_is_told_to_the_citizen(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    app, _, client = build_app(channel)
    app.ctx.agent = FailingAgent()
    await client.post(SEND, **body())
    await channel.wait_idle()
    events = (await poll(client))["events"]
    assert events[-1]["type"] == "bot" and events[-1]["text"] == ERROR_REPLY
    assert not channel.busy(SENDER)


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "raw,error",
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe\x00garbage", "invalid_json"),
        (b"", "invalid_json"),
        (b"[1, 2]", "invalid_payload"),
        (json.dumps({"message": "thiếu sender"}).encode(), "missing_field"),
        (json.dumps({"sender": "", "message": "x"}).encode(), "missing_field"),
        (json.dumps({"sender": 42, "message": "x"}).encode(), "invalid_field"),
        (json.dumps({"sender": "có dấu cách", "message": "x"}).encode(), "invalid_field"),
        (json.dumps({"sender": SENDER}).encode(), "missing_field"),
        (json.dumps({"sender": SENDER, "message": "   "}).encode(), "missing_field"),
        (json.dumps({"sender": SENDER, "message": 12}).encode(), "invalid_field"),
        (json.dumps({"sender": SENDER, "message": ["a"]}).encode(), "invalid_field"),
        (json.dumps({"sender": SENDER, "message": "a" * (MAX_MESSAGE_CHARS + 1)}).encode(), "message_too_long"),
        (json.dumps({"sender": SENDER, "message": "x", "client_msg_id": {"a": 1}}).encode(), "invalid_field"),
        (json.dumps({"sender": SENDER, "message": "x", "display": 5}).encode(), "invalid_field"),
    ],
)
async def test_bad_send_is_a_400_with_a_json_error(tmp_path: Path, caplog: Any, raw: bytes, error: str) -> None:
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    with caplog.at_level(logging.WARNING, logger="bot.channels.webchat"):
        resp = await client.post(SEND, body=raw, headers={"Content-Type": "application/json"})
    assert resp.status == 400, resp.text
    assert resp.json()["error"] == error
    assert error in caplog.text
    await channel.wait_idle()
    assert agent.messages == []
    assert channel.mailbox.last_id(SENDER) == 0


async def test_longest_allowed_message_is_accepted(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    resp = await client.post(SEND, **body("ậ" * MAX_MESSAGE_CHARS))
    assert resp.status == 202
    await channel.wait_idle()
    assert len(agent.messages) == 1


async def test_huge_body_is_rejected(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, _, client = build_app(channel)
    resp = await client.post(SEND, body=b"{" + b" " * 70_000 + b"}")
    assert resp.status == 413
    assert resp.json()["error"] == "payload_too_large"


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"sender": ""},
        {"sender": "x" * 200},
        {"sender": SENDER, "after": "abc"},
        {"sender": SENDER, "after": "-1"},
        {"sender": SENDER, "wait": "nan"},
        {"sender": SENDER, "wait": "-3"},
        {"sender": SENDER, "wait": "inf"},
    ],
)
async def test_bad_poll_is_a_400(tmp_path: Path, query: dict[str, str]) -> None:
    channel = make_channel(tmp_path)
    _, _, client = build_app(channel)
    resp = await client.get(POLL, query=query, headers=TOKEN)
    assert resp.status == 400, resp.text
    assert resp.json()["error"] in ("missing_field", "invalid_field")


async def test_too_many_waiting_messages_are_refused(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    agent = ScriptedAgent([])
    agent.gate = asyncio.Event()
    app, _, client = build_app(channel)
    app.ctx.agent = agent
    statuses = [(await client.post(SEND, **body(f"câu {i}", client_msg_id=f"m-{i}"))).status for i in range(25)]
    assert statuses.count(202) == 20 and statuses.count(429) == 5
    agent.gate.set()
    await channel.wait_idle()
