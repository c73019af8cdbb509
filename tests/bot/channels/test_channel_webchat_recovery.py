"""A web chat message accepted by a server that then died (a replica killed, or this process before a
restart) is processed when the widget sends it again, once it is clearly lost; a message that was
answered, or is still young, stays a duplicate."""

import time
from pathlib import Path

import pytest
from channel_testkit import build_app
from webchat_testkit import SEND, SENDER, body, make_channel, poll

from bot.channels.webchat import REPROCESS_AFTER_SECONDS, REPROCESS_WITHIN_SECONDS

pytestmark = pytest.mark.asyncio


@pytest.fixture(autouse=True)
def no_webchat_db_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBCHAT_DB", raising=False)


def accepted_by_a_server_that_died(tmp_path: Path, age: float, answered: bool = False, handled: bool = False) -> None:
    """What the other server left in the shared mailbox: the echo of m-1 (and maybe its answer, or the
    record that it went through the bot: in a handoff the agent may not have answered yet)."""
    dead = make_channel(tmp_path)
    ts = time.time() - age
    dead.mailbox.append(SENDER, {"type": "user", "text": "quên mật khẩu vneid", "client_msg_id": "m-1", "ts": ts})
    if answered:
        dead.mailbox.append(SENDER, {"type": "bot", "text": "Đã trả lời.", "ts": ts + 1})
    if handled:
        dead.mailbox.mark_handled(SENDER, "m-1")
    dead.mailbox.close()


async def test_a_lost_message_is_processed_when_it_is_sent_again(tmp_path: Path) -> None:
    accepted_by_a_server_that_died(tmp_path, age=REPROCESS_AFTER_SECONDS + 15)
    channel = make_channel(tmp_path)  # the server that is still up
    _, agent, client = build_app(channel)
    agent.reply = "Bạn vào mục Quên mật khẩu."

    resp = await client.post(SEND, **body())
    assert resp.json() == {"status": "accepted", "id": 1}  # the message it already has, not a new one
    await channel.wait_idle()
    assert [m.text for m in agent.messages] == ["quên mật khẩu vneid"]
    # and only once: the next retry is a duplicate again
    assert (await client.post(SEND, **body())).json()["status"] == "duplicate"
    await channel.wait_idle()
    assert len(agent.messages) == 1
    events = (await poll(client))["events"]
    assert [(e["type"], e["text"]) for e in events] == [
        ("user", "quên mật khẩu vneid"),
        ("bot", "Bạn vào mục Quên mật khẩu."),
    ]


@pytest.mark.parametrize(("age", "answered"), [(5.0, False), (REPROCESS_AFTER_SECONDS + 15, True)])
async def test_a_young_or_answered_message_stays_a_duplicate(tmp_path: Path, age: float, answered: bool) -> None:
    accepted_by_a_server_that_died(tmp_path, age=age, answered=answered)
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    resp = await client.post(SEND, **body())
    assert resp.json()["status"] == "duplicate"
    await channel.wait_idle()
    assert agent.messages == []


async def test_a_poll_finds_a_lost_message_the_widget_will_not_resend(tmp_path: Path) -> None:
    # the widget saw the echo (so it stops resending) but the server that took the message died
    accepted_by_a_server_that_died(tmp_path, age=REPROCESS_AFTER_SECONDS + 15)
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    agent.reply = "Bạn vào mục Quên mật khẩu."

    events = (await poll(client, after=1, wait=5))["events"]
    assert [(e["type"], e["text"]) for e in events] == [("bot", "Bạn vào mục Quên mật khẩu.")]
    assert [(m.text, m.message_id) for m in agent.messages] == [("quên mật khẩu vneid", "m-1")]
    await poll(client, after=2)  # answered now: nothing is processed again
    assert (await client.post(SEND, **body())).json()["status"] == "duplicate"
    await channel.wait_idle()
    assert len(agent.messages) == 1


@pytest.mark.parametrize(
    ("age", "answered", "handled"),
    [
        (5.0, False, False),  # young
        (REPROCESS_AFTER_SECONDS + 15, True, False),  # answered
        (REPROCESS_AFTER_SECONDS + 15, False, True),  # went through the bot, paused for an agent
        (REPROCESS_WITHIN_SECONDS + 60, False, False),  # too old: the citizen has moved on
    ],
)
async def test_a_poll_leaves_young_answered_handled_or_old_messages_alone(
    tmp_path: Path, age: float, answered: bool, handled: bool
) -> None:
    accepted_by_a_server_that_died(tmp_path, age=age, answered=answered, handled=handled)
    channel = make_channel(tmp_path)
    _, agent, client = build_app(channel)
    await poll(client)
    await channel.wait_idle()
    assert agent.messages == []
