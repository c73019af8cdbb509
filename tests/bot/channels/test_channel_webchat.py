"""The web chat widget channel: send, long-poll, mailbox persistence, bad input, static files."""

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from channel_testkit import FakeAgent, build_app, webchat_token
from rasa.core.channels.channel import UserMessage

from bot.channels.mailbox import Mailbox
from bot.channels.webchat import ERROR_REPLY, MAX_MESSAGE_CHARS, WebChatConfig, WebChatInput
from bot.channels.webchat_output import AGENT_LABEL, WebChatOutput

pytestmark = pytest.mark.asyncio

SEND = "/webhooks/webchat/send"
POLL = "/webhooks/webchat/poll"
SENDER = "w-0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def no_webchat_db_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBCHAT_DB", raising=False)


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
# persistence and bounds
# --------------------------------------------------------------------------- #


async def test_mailbox_survives_a_new_channel_instance(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    agent.reply = "Trả lời đã lưu."
    await client.post(SEND, **body())
    await channel.wait_idle()
    before = await poll(client)
    channel.mailbox.close()

    # server restart: a new channel instance on the same file
    restarted = make_channel(tmp_path)
    _, agent2, client2 = build_app(restarted)
    after = await poll(client2)
    assert after["events"] == before["events"]
    assert after["epoch"] == before["epoch"]
    assert after["last_id"] == 2

    # a send retried across the restart is still processed once
    retry = await client2.post(SEND, **body())
    assert retry.json()["status"] == "duplicate"
    new = await client2.post(SEND, **body("câu mới", client_msg_id="m-2"))
    assert new.json()["id"] == 3
    await restarted.wait_idle()
    assert [m.text for m in agent2.messages] == ["câu mới"]
    assert (tmp_path / "webchat.sqlite3").exists()


async def test_memory_is_bounded_and_older_events_come_from_sqlite(tmp_path: Path) -> None:
    channel = make_channel(tmp_path, memory_events=3, max_senders=2)
    out = channel.get_output_channel()
    for i in range(10):
        await out.send_text_message(SENDER, f"tin {i + 1}")
    assert len(channel.mailbox._boxes[SENDER].events) == 3
    _, _, client = build_app(channel)
    assert [e["text"] for e in (await poll(client, after=5))["events"]] == [
        "tin 6",
        "tin 7",
        "tin 8",
        "tin 9",
        "tin 10",
    ]
    for other in ("w-a", "w-b", "w-c"):
        await out.send_text_message(other, "xin chào")
    assert len(channel.mailbox) == 2
    assert SENDER not in channel.mailbox._boxes
    # an evicted sender is reloaded from SQLite with the right ids
    assert channel.mailbox.last_id(SENDER) == 10
    await out.send_text_message(SENDER, "tin 11")
    assert (await poll(client, after=10))["events"][0]["id"] == 11


async def test_memory_only_mailbox_works_without_a_file(tmp_path: Path) -> None:
    mailbox = Mailbox(":memory:")
    assert not mailbox.persistent
    first = mailbox.append("w-x", {"type": "bot", "text": "a"})
    second = mailbox.append("w-x", {"type": "bot", "text": "b"})
    assert (first["id"], second["id"]) == (1, 2)
    assert [e["text"] for e in mailbox.events_after("w-x", 1)] == ["b"]
    assert not list(tmp_path.iterdir())


async def test_unwritable_database_falls_back_to_memory(tmp_path: Path, caplog: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with caplog.at_level(logging.ERROR):
        channel = make_channel(tmp_path, db_path=str(blocker / "webchat.sqlite3"))
    assert not channel.mailbox.persistent
    assert "memory only" in caplog.text
    _, _, client = build_app(channel)
    assert (await client.post(SEND, **body())).status == 202


# --------------------------------------------------------------------------- #
# output channel: what citizens see
# --------------------------------------------------------------------------- #


async def test_dvc_metadata_is_never_delivered_and_buttons_are(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    agent = ScriptedAgent(
        [
            {"text": "📌 Quên mật khẩu VNeID\n\nNguồn: https://vneid.gov.vn/"},
            {
                "text": "Câu trả lời có giúp ích không?",
                "buttons": [
                    {"title": "👍 Có", "payload": '/feedback_helpful{"topic_id": "x"}'},
                    {"title": "👎 Chưa", "payload": "/feedback_not_helpful"},
                    {"title": "Cổng DVC", "type": "web_url", "url": "https://dichvucong.gov.vn"},
                    {"title": "Xấu", "url": "javascript:alert(1)"},
                ],
            },
            {"custom": {"dvc": {"decision": "answer", "guide_ids": ["x"], "score": 0.9}}},
            {"custom": {"something": "else"}},
        ]
    )
    app, _, client = build_app(channel)
    app.ctx.agent = agent
    await client.post(SEND, **body())
    await channel.wait_idle()

    events = (await poll(client))["events"]
    assert [e["type"] for e in events] == ["user", "bot", "bot"]
    assert "dvc" not in json.dumps(events) and "decision" not in json.dumps(events)
    assert events[1]["text"].startswith("📌 Quên mật khẩu VNeID\n\nNguồn:")
    assert events[2]["buttons"] == [
        {"title": "👍 Có", "payload": '/feedback_helpful{"topic_id": "x"}'},
        {"title": "👎 Chưa", "payload": "/feedback_not_helpful"},
        {"title": "Cổng DVC", "url": "https://dichvucong.gov.vn"},
    ]


async def test_human_agent_messages_are_labelled(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    out = channel.get_output_channel()
    await out.send_custom_json(SENDER, {"human_agent": True, "text": "Chào anh, tôi là tổng đài viên."})
    await out.send_custom_json(SENDER, {"human_agent": True})  # a bare flag shows nothing
    await out.send_response(SENDER, {"text": "Anh chờ chút nhé.", "custom": {"human_agent": True}})
    await out.send_image_url(SENDER, "https://example.gov.vn/a.png")
    await out.send_image_url(SENDER, "javascript:alert(1)")
    events = channel.mailbox.events_after(SENDER, 0)
    assert [(e["type"], e.get("label"), e.get("text")) for e in events] == [
        ("agent", AGENT_LABEL, "Chào anh, tôi là tổng đài viên."),
        ("agent", AGENT_LABEL, "Anh chờ chút nhé."),
        ("bot", None, None),
    ]
    assert events[2]["image"] == "https://example.gov.vn/a.png"


async def test_out_of_band_message_wakes_the_widget(tmp_path: Path) -> None:
    """What ``POST /conversations/{id}/execute?output_channel=webchat`` does."""
    channel = make_channel(tmp_path)
    _, _, client = build_app(channel)
    waiting = asyncio.ensure_future(poll(client, after=0, wait=20))
    await asyncio.sleep(0.1)
    await channel.get_output_channel().send_text_message(SENDER, "Tin nhắn từ tổng đài.")
    result = await asyncio.wait_for(waiting, 5)
    assert result["events"][0]["text"] == "Tin nhắn từ tổng đài."


async def test_html_in_messages_is_stored_as_plain_text(tmp_path: Path) -> None:
    channel = make_channel(tmp_path)
    _, _, client = build_app(channel)
    attack = "<b>x</b><img src=x onerror=window.__xss=1>"
    await client.post(SEND, **body(attack))
    await channel.wait_idle()
    assert (await poll(client))["events"][0]["text"] == attack  # rendered with textContent


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


# --------------------------------------------------------------------------- #
# static files
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "path,content_type,marker",
    [
        ("/webhooks/webchat/widget.js", "application/javascript", "Hỏi trợ lý ảo"),
        ("/webhooks/webchat/widget.css", "text/css", ".tl-launcher"),
        ("/webhooks/webchat/demo.css", "text/css", ".portal-header"),
        ("/webhooks/webchat/demo", "text/html", 'src="/webhooks/webchat/widget.js" defer'),
    ],
)
async def test_static_files_are_served_with_their_content_type(
    tmp_path: Path, path: str, content_type: str, marker: str
) -> None:
    _, _, client = build_app(make_channel(tmp_path))
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.headers["content-type"].startswith(content_type)
    assert "charset=utf-8" in resp.headers["content-type"]
    assert marker in resp.text


async def test_demo_page_embeds_the_widget_with_a_config_object_under_a_strict_csp(
    tmp_path: Path,
) -> None:
    _, _, client = build_app(make_channel(tmp_path))
    resp = await client.get("/webhooks/webchat/demo")
    assert 'window.TroLyDVC = {server: "", title: "Trợ lý ảo Dịch vụ công"}' in resp.text
    assert '<html lang="vi">' in resp.text
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in csp and "unsafe-inline" not in csp


async def test_widget_never_inserts_html() -> None:
    source = (Path(__file__).parents[3] / "bot/channels/webchat_static/widget.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, sink
    assert "textContent" in source


async def test_health(tmp_path: Path) -> None:
    _, _, client = build_app(make_channel(tmp_path))
    resp = await client.get("/webhooks/webchat/")
    assert resp.json() == {"status": "ok", "channel": "webchat"}


async def test_from_credentials_reads_the_environment(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("WEBCHAT_DB", str(tmp_path / "env.sqlite3"))
    channel = WebChatInput.from_credentials(None)
    assert channel.config.db_path == str(tmp_path / "env.sqlite3")
    assert channel.mailbox.persistent
    channel = WebChatInput.from_credentials({"db_path": ":memory:", "memory_events": "50"})
    assert not channel.mailbox.persistent and channel.config.memory_events == 50
