"""The web chat widget channel: mailbox persistence and bounds, what citizens see, static files."""

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from channel_testkit import build_app
from webchat_testkit import SEND, SENDER, ScriptedAgent, body, make_channel, poll

from bot.channels.mailbox import Mailbox
from bot.channels.webchat import WebChatInput
from bot.channels.webchat_output import AGENT_LABEL

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def no_webchat_db_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBCHAT_DB", raising=False)


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
