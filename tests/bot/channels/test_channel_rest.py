"""The REST channel: Rasa's contract unchanged, plus an outbox for pushed (agent) messages."""

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from channel_testkit import FakeAgent, build_app
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.channels import rest as rest_module
from bot.channels.rest import Outbox, RestConfig, RestInput, RestOutput
from core.privacy import REDACTED

pytestmark = pytest.mark.asyncio

WEBHOOK = "/webhooks/rest/webhook"
MESSAGES = "/webhooks/rest/messages"
SENDER = "rest-3f9c2b7e4a1d8c6b5e0f9a2d7c4b1e8f"
AGENT_REPLY = {"text": "Chào bạn, tôi là tổng đài viên.", "custom": {"human_agent": True}}


def make_channel(tmp_path: Path, **overrides: Any) -> RestInput:
    values: dict[str, Any] = {"db_path": str(tmp_path / "rest-outbox.sqlite3")}
    values.update(overrides)
    return RestInput(RestConfig(**values))


def post_body(message: Any = "chào bạn", sender: Any = SENDER, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"message": message, **extra}
    if sender is not None:
        payload["sender"] = sender
    return {
        "body": json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        "headers": {"Content-Type": "application/json"},
    }


async def say(client: Any, message: str = "chào bạn", sender: str = SENDER, **extra: Any) -> list[dict[str, Any]]:
    resp = await client.post(WEBHOOK, **post_body(message, sender, **extra))
    assert resp.status == 200, resp.text
    return resp.json()


async def messages(client: Any, sender: str = SENDER, **query: str) -> dict[str, Any]:
    resp = await client.get(MESSAGES, query={"sender": sender, **query})
    assert resp.status == 200, resp.text
    return resp.json()


async def push(channel: RestInput, message: dict[str, Any], sender: str = SENDER) -> None:
    """What Rasa does for ``.../tracker/events?output_channel=rest&execute_side_effects=true``."""
    await channel.get_output_channel().send_response(sender, dict(message))


class ScriptedAgent(FakeAgent):
    """Answers with Rasa-style responses through the message's output channel."""

    def __init__(self, *responses: dict[str, Any]) -> None:
        super().__init__()
        self.responses = responses

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)
        for response in self.responses:
            await message.output_channel.send_response(message.sender_id, dict(response))


class FailingAgent(FakeAgent):
    async def handle_message(self, message: UserMessage) -> None:
        raise RuntimeError("boom")


# --------------------------------------------------------------------------- #
# Rasa's contract
# --------------------------------------------------------------------------- #


async def test_post_contract_is_rasas(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    agent.reply = "Xin chào!\n\nTôi giúp gì được cho bạn?"

    replies = await say(client, "chào bạn", metadata={"app": "portal"})
    # the bot's replies only, as Rasa's CollectingOutputChannel gives them (split at blank lines)
    assert replies == [
        {"recipient_id": SENDER, "text": "Xin chào!"},
        {"recipient_id": SENDER, "text": "Tôi giúp gì được cho bạn?"},
    ]
    (msg,) = agent.messages
    assert (msg.text, msg.sender_id, msg.input_channel) == ("chào bạn", SENDER, "rest")
    assert msg.metadata == {"app": "portal"}
    assert type(msg.output_channel) is CollectingOutputChannel

    assert (await client.get("/webhooks/rest/")).json() == {"status": "ok"}
    # input_channel in the body is ignored (Rasa honoured it: replies could be rerouted)
    await say(client, "x", input_channel="webchat")
    assert agent.messages[-1].input_channel == "rest"


async def test_bad_bodies(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    json_header = {"Content-Type": "application/json"}
    assert (await client.post(WEBHOOK, body=b"{not json", headers=json_header)).status == 400
    assert (await client.post(WEBHOOK, body=bytes(range(256)) * 4, headers=json_header)).status == 400
    not_object = await client.post(WEBHOOK, body=b"[1, 2]", headers=json_header)
    assert not_object.status == 400 and not_object.json()["error"] == "invalid_payload"
    assert (await client.post(WEBHOOK, body=b"", headers=json_header)).status == 400
    assert agent.messages == []

    for text in ("", "   ", "a" * 5000, "\x00\x01 \ufffd 😀" * 50):
        assert (await client.post(WEBHOOK, **post_body(text, "t-1"))).status == 200
    # over DVC_MAX_TEXT_CHARS (5000): refused before NLU
    too_long = await client.post(WEBHOOK, **post_body("a" * 5001, "t-1"))
    assert too_long.status == 400 and too_long.json()["error"] == "message_too_long"
    # no sender: Rasa's default conversation
    assert (await client.post(WEBHOOK, **post_body("thiếu sender", None))).status == 200
    assert agent.messages[-1].sender_id == "default"


async def test_a_failing_bot_still_answers_200(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    app, _, client = build_app(channel)
    app.ctx.agent = FailingAgent()
    await push(channel, AGENT_REPLY)
    replies = await say(client)
    assert [r["text"] for r in replies] == [AGENT_REPLY["text"]]


async def test_stream_mode_starts_with_pushed_messages(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    agent.reply = "Bot trả lời."
    await push(channel, AGENT_REPLY)
    resp = await client.post(WEBHOOK, query={"stream": "true"}, **post_body())
    assert resp.status == 200
    lines = [json.loads(line) for line in resp.text.splitlines() if line.strip()]
    assert [line["text"] for line in lines] == [AGENT_REPLY["text"], "Bot trả lời."]
    assert lines[0]["id"] == 1
    assert await say(client) == [{"recipient_id": SENDER, "text": "Bot trả lời."}]


# --------------------------------------------------------------------------- #
# Redaction
# --------------------------------------------------------------------------- #


async def test_secrets_are_redacted_before_rasa(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    await say(client, "OTP 482913 không nhận được", metadata={"app": "portal"})
    await say(client, '/choose_topic{"topic_id": "vneid_forgot_password"}', metadata={"redacted": True})
    await say(client, "mật khẩu là Xyz#2024")

    otp, button, password = agent.messages
    assert otp.text == f"OTP {REDACTED} không nhận được"
    assert otp.metadata == {"app": "portal", "redacted": True}
    assert button.text == '/choose_topic{"topic_id": "vneid_forgot_password"}'
    assert button.metadata == {}  # the flag is the channel's, a client cannot set it
    assert password.text == f"mật khẩu là {REDACTED}" and password.metadata == {"redacted": True}


# --------------------------------------------------------------------------- #
# Pushed messages
# --------------------------------------------------------------------------- #


async def test_pushed_message_starts_the_next_response_once(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    agent.reply = "Tin của bot."

    output = channel.get_output_channel()
    assert isinstance(output, RestOutput) and output.name() == "rest"
    await push(channel, AGENT_REPLY)  # the agent console's reply
    await push(channel, {"text": "Tổng đài viên đã kết thúc cuộc trò chuyện."})  # hand back / close

    first = await say(client)
    assert first == [
        {"id": 1, "recipient_id": SENDER, "text": AGENT_REPLY["text"], "custom": {"human_agent": True}},
        {"id": 2, "recipient_id": SENDER, "text": "Tổng đài viên đã kết thúc cuộc trò chuyện."},
        {"recipient_id": SENDER, "text": "Tin của bot."},
    ]
    # each once
    assert await say(client) == [{"recipient_id": SENDER, "text": "Tin của bot."}]
    # another sender's outbox is its own
    await push(channel, {"text": "cho người khác"}, sender="rest-other")
    assert await say(client) == [{"recipient_id": SENDER, "text": "Tin của bot."}]
    # the history stays readable
    history = await messages(client, after="0")
    assert [m["id"] for m in history["messages"]] == [1, 2]
    assert history["last_id"] == 2 and history["more"] is False


async def test_output_shapes(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, _, client = build_app(channel)
    output = channel.get_output_channel()
    await output.send_response(SENDER, {"custom": {"human_agent": True, "text": "Tin thứ hai"}})
    await output.send_agent_message(SENDER, "Tin thứ ba", [{"title": "Có", "payload": "/affirm"}])
    await output.send_response(
        SENDER, {"text": "Bạn cần gì thêm?", "buttons": [{"title": "Gặp tổng đài viên", "payload": "/request_human"}]}
    )
    await output.send_response(SENDER, {"custom": {"dvc": {"decision": "answer"}}})
    await output.send_response(SENDER, {"image": "https://example.org/a.png"})
    await output.send_response(SENDER, {"text": "  "})  # nothing to deliver
    got = (await messages(client))["messages"]
    assert got == [
        {"id": 1, "recipient_id": SENDER, "text": "Tin thứ hai", "custom": {"human_agent": True}},
        {
            "id": 2,
            "recipient_id": SENDER,
            "text": "Tin thứ ba",
            "buttons": [{"title": "Có", "payload": "/affirm"}],
            "custom": {"human_agent": True},
        },
        {
            "id": 3,
            "recipient_id": SENDER,
            "text": "Bạn cần gì thêm?",
            "buttons": [{"title": "Gặp tổng đài viên", "payload": "/request_human"}],
        },
        {"id": 4, "recipient_id": SENDER, "custom": {"dvc": {"decision": "answer"}}},
        {"id": 5, "recipient_id": SENDER, "image": "https://example.org/a.png"},
    ]


async def test_rasa_picks_the_outbox_for_output_channel_rest(tmp_path: Path) -> None:
    """``rasa.server._get_output_channel``: what ``?output_channel=rest`` resolves to."""
    from rasa.server import _get_output_channel

    channel = make_channel(tmp_path)
    request = SimpleNamespace(
        args={"output_channel": "rest"}, app=SimpleNamespace(ctx=SimpleNamespace(input_channels=[channel]))
    )
    output = _get_output_channel(request, None)
    assert isinstance(output, RestOutput) and output.outbox is channel.outbox


async def test_agent_reply_events_from_the_console(tmp_path: Path) -> None:
    """The events handoff/rasa_client.py appends, sent the way Rasa's execute_side_effects does."""
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.events import Event
    from rasa.shared.core.trackers import DialogueStateTracker

    channel = make_channel(tmp_path)
    _, _, client = build_app(channel)
    # handoff.rasa_client.agent_reply_event and resume_events (that module needs httpx, not in this venv)
    appended = [
        {"event": "bot", "text": "Chào bạn, tôi xem giúp nhé.", "data": {"custom": {"human_agent": True}}},
        {"event": "action", "name": "utter_handoff_returned"},
        {"event": "bot", "text": "Bạn quay lại với trợ lý ảo."},
        {"event": "resume"},
        {"event": "action", "name": "action_listen"},
    ]
    events = [Event.from_parameters(e) for e in appended]
    tracker = DialogueStateTracker(SENDER, slots=[])
    await MessageProcessor._send_bot_messages(events, tracker, channel.get_output_channel())
    assert await say(client) == [
        {"id": 1, "recipient_id": SENDER, "text": "Chào bạn, tôi xem giúp nhé.", "custom": {"human_agent": True}},
        {"id": 2, "recipient_id": SENDER, "text": "Bạn quay lại với trợ lý ảo."},
    ]


async def test_poll_marks_messages_delivered(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    agent.reply = "Tin của bot."
    await push(channel, AGENT_REPLY)
    polled = await messages(client, after="0")
    assert [m["text"] for m in polled["messages"]] == [AGENT_REPLY["text"]]
    # the POST does not repeat what a poll handed out
    assert await say(client) == [{"recipient_id": SENDER, "text": "Tin của bot."}]
    # polling past the end: nothing, at once
    assert (await messages(client, after="1"))["messages"] == []


async def test_long_poll_wakes_on_push(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, _, client = build_app(channel)
    started = time.monotonic()
    poll = asyncio.ensure_future(messages(client, after="0", wait="10"))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await push(channel, AGENT_REPLY)
    result = await asyncio.wait_for(poll, 5)
    assert time.monotonic() - started < 5
    assert [m["id"] for m in result["messages"]] == [1] and result["last_id"] == 1


async def test_long_poll_times_out_and_wait_is_capped(tmp_path: Path, monkeypatch: Any) -> None:
    channel = make_channel(tmp_path)
    _, _, client = build_app(channel)
    started = time.monotonic()
    assert await messages(client, after="0", wait="0.3") == {"messages": [], "last_id": 0, "more": False}
    assert 0.25 <= time.monotonic() - started < 3
    monkeypatch.setattr(rest_module, "MAX_WAIT_SECONDS", 0.2)
    started = time.monotonic()
    assert (await messages(client, wait="3600"))["messages"] == []
    assert time.monotonic() - started < 2
    # after > last_id (the outbox was wiped): answered at once
    started = time.monotonic()
    assert (await messages(client, after="7", wait="3"))["last_id"] == 0
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"sender": ""},
        {"sender": "x" * 1001},
        {"sender": SENDER, "after": "-1"},
        {"sender": SENDER, "after": "abc"},
        {"sender": SENDER, "after": "1.5"},
        {"sender": SENDER, "wait": "-1"},
        {"sender": SENDER, "wait": "soon"},
        {"sender": SENDER, "wait": "nan"},
        {"sender": SENDER, "wait": "inf"},
    ],
)
async def test_bad_poll_parameters_400(tmp_path: Path, query: dict[str, str]) -> None:
    _, _, client = build_app(make_channel(tmp_path))
    resp = await client.get(MESSAGES, query=query)
    assert resp.status == 400, resp.text
    assert resp.json()["error"] in ("missing_field", "invalid_field")


async def test_poll_pages_through_a_long_outbox(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, _, client = build_app(channel)
    for i in range(rest_module.MAX_MESSAGES_PER_POLL + 5):
        await push(channel, {"text": f"tin {i}"})
    page = await messages(client)
    assert len(page["messages"]) == rest_module.MAX_MESSAGES_PER_POLL and page["more"] is True
    rest = await messages(client, after=str(page["messages"][-1]["id"]))
    assert [m["text"] for m in rest["messages"]] == [f"tin {i}" for i in range(100, 105)]
    assert rest["more"] is False and rest["last_id"] == 105


# --------------------------------------------------------------------------- #
# Persistence
# --------------------------------------------------------------------------- #


async def test_restart_neither_resends_nor_loses(tmp_path: Path) -> None:
    db = tmp_path / "rest-outbox.sqlite3"
    first = make_channel(tmp_path)
    _, agent, client = build_app(first)
    await push(first, {"text": "trước: đã giao"})
    assert [r["text"] for r in await say(client)] == ["trước: đã giao"]
    await push(first, AGENT_REPLY)  # pushed, not yet delivered, then the server restarts
    first.outbox.close()

    second = make_channel(tmp_path)
    _, agent2, client2 = build_app(second)
    agent2.reply = "Tin của bot."
    assert await say(client2) == [
        {"id": 2, "recipient_id": SENDER, "text": AGENT_REPLY["text"], "custom": {"human_agent": True}},
        {"recipient_id": SENDER, "text": "Tin của bot."},
    ]
    second.outbox.close()

    third = make_channel(tmp_path)
    _, agent3, client3 = build_app(third)
    assert await say(client3) == []
    assert [m["id"] for m in (await messages(client3))["messages"]] == [1, 2]
    await push(third, {"text": "sau"})
    assert [r["id"] for r in await say(client3)] == [3]
    third.outbox.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT upto FROM delivered WHERE sender = ?", (SENDER,)).fetchone() == (3,)


async def test_memory_only_outbox(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REST_OUTBOX_DB", ":memory:")
    channel = RestInput.from_credentials(None)
    assert channel.config.db_path == ":memory:" and not channel.outbox.persistent
    _, _, client = build_app(channel)
    await push(channel, AGENT_REPLY)
    assert [r["id"] for r in await say(client)] == [1]
    assert list(tmp_path.iterdir()) == []
    # a key in credentials.yml wins over the environment
    assert RestInput.from_credentials({"db_path": str(tmp_path / "o.sqlite3")}).outbox.persistent


async def test_cursor_follows_an_outbox_that_lost_messages() -> None:
    # memory only, one sender kept in memory: the first sender's box is dropped
    outbox = Outbox(":memory:", max_senders=1)
    output = RestOutput(outbox)
    await output.send_text_message("a", "một")
    assert [e["text"] for e in outbox.take_undelivered("a")] == ["một"]
    await output.send_text_message("b", "khác")  # evicts "a"
    await output.send_text_message("a", "hai")  # "a" starts again at id 1
    assert [e["text"] for e in outbox.take_undelivered("a")] == ["hai"]


async def test_expired_messages_reset_the_cursor(tmp_path: Path) -> None:
    db = str(tmp_path / "o.sqlite3")
    outbox = Outbox(db)
    outbox.append(SENDER, {"recipient_id": SENDER, "text": "cũ", "ts": time.time() - 40 * 86400})
    assert [e["text"] for e in outbox.take_undelivered(SENDER)] == ["cũ"]
    outbox.close()
    outbox = Outbox(db, retention_days=30)  # deletes it at start-up
    assert outbox.last_id(SENDER) == 0 and outbox.delivered(SENDER) == 0
    outbox.append(SENDER, {"recipient_id": SENDER, "text": "mới"})
    assert [e["text"] for e in outbox.take_undelivered(SENDER)] == ["mới"]


async def test_loaded_by_rasa_from_credentials_file(tmp_path: Path) -> None:
    from rasa.core.run import create_http_input_channels

    creds = tmp_path / "credentials.yml"
    creds.write_text(f"bot.channels.rest.RestInput:\n  db_path: {tmp_path / 'x.sqlite3'}\n")
    (channel,) = create_http_input_channels(None, str(creds))
    assert isinstance(channel, RestInput)
    assert channel.name() == "rest" and channel.url_prefix() == "rest"
    assert channel.outbox.persistent


async def test_project_credentials_use_our_channels(tmp_path: Path, monkeypatch: Any) -> None:
    from rasa.core.run import create_http_input_channels

    root = Path(__file__).resolve().parents[3]
    monkeypatch.setenv("REST_OUTBOX_DB", ":memory:")
    monkeypatch.setenv("WEBCHAT_DB", ":memory:")
    channels = {c.name(): type(c) for c in create_http_input_channels(None, str(root / "credentials.yml"))}
    assert channels["rest"] is RestInput
    assert channels["socketio"].__module__ == "bot.channels.socket_io"
    assert set(channels) == {"rest", "socketio", "zalo", "messenger", "webchat"}
