"""Issue #15 on the public channel routes, in process: web chat binding and CORS, body and type
limits, rate limits, the Zalo timestamp window, dedupe across a restart, client addresses."""

import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from channel_testkit import build_app, webchat_token

from bot.channels import guard
from core import net
from bot.channels.messenger import MessengerConfig, MessengerInput
from bot.channels.rest import RestConfig, RestInput
from bot.channels.webchat import WebChatConfig, WebChatInput
from bot.channels.zalo import ZaloConfig, ZaloInput
from bot.channels.zalo_signature import compute_signature

pytestmark = pytest.mark.asyncio

MIB = b"{" + b" " * (1024 * 1024) + b"}"
JSON = {"Content-Type": "application/json"}
PORTAL = "https://dichvucong.example.gov.vn"


def as_json(payload: Any, **headers: str) -> dict[str, Any]:
    return {"body": json.dumps(payload, ensure_ascii=False).encode(), "headers": {**JSON, **headers}}


def webchat(tmp_path: Path) -> WebChatInput:
    return WebChatInput(WebChatConfig(db_path=str(tmp_path / "webchat.sqlite3")))


# --------------------------------------------------------------------------- #
# Web chat: server-issued conversations bound by token; CORS for portal origins only
# --------------------------------------------------------------------------- #


async def test_webchat_conversations_are_issued_and_bound(tmp_path: Path) -> None:
    channel = webchat(tmp_path)
    _, agent, client = build_app(channel)
    issued = (await client.post("/webhooks/webchat/session")).json()
    sender, token = issued["sender"], issued["token"]
    assert sender.startswith("w-") and len(sender) == 34 and token == webchat_token(sender)
    other = (await client.post("/webhooks/webchat/session")).json()
    assert other["sender"] != sender

    def send(who: str, headers: dict[str, str]) -> dict[str, Any]:
        return as_json({"sender": who, "message": "chào", "client_msg_id": f"m-{time.time()}"}, **headers)

    assert (await client.post("/webhooks/webchat/send", **send(sender, {"X-Webchat-Token": token}))).status == 202
    # no token, a wrong one, another conversation's, a REST citizen's id: all 403, nothing reaches Rasa
    for who, headers in (
        (sender, {}),
        (sender, {"X-Webchat-Token": "0" * 64}),
        (other["sender"], {"X-Webchat-Token": token}),
        ("r-citizen-1", {"X-Webchat-Token": token}),
    ):
        assert (await client.post("/webhooks/webchat/send", **send(who, headers))).status == 403
        poll = await client.get("/webhooks/webchat/poll", query={"sender": who}, headers=headers)
        assert poll.status == 403 and poll.json()["error"] == "forbidden"
    await channel.wait_idle()
    assert [m.sender_id for m in agent.messages] == [sender]


async def test_webchat_cors_only_for_configured_origins(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("WEBCHAT_ALLOWED_ORIGINS", f"{PORTAL}, https://other.example.gov.vn")
    _, _, client = build_app(webchat(tmp_path))
    asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    ok = await client.request("OPTIONS", "/webhooks/webchat/send", headers={"Origin": PORTAL, **asked})
    assert ok.status == 204 and ok.headers["access-control-allow-origin"] == PORTAL
    assert "x-webchat-token" in ok.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in ok.headers
    session = await client.post("/webhooks/webchat/session", headers={"Origin": PORTAL})
    assert session.headers["access-control-allow-origin"] == PORTAL
    for origin in ("https://evil.example.com", "null", PORTAL + ".evil.com"):
        refused = await client.request("OPTIONS", "/webhooks/webchat/send", headers={"Origin": origin, **asked})
        assert refused.status == 403 and "access-control-allow-origin" not in refused.headers
        plain = await client.post("/webhooks/webchat/session", headers={"Origin": origin})
        assert "access-control-allow-origin" not in plain.headers


# --------------------------------------------------------------------------- #
# Sizes and content types: 413 / 415 on every public POST route
# --------------------------------------------------------------------------- #


def zalo(tmp_path: Path, **overrides: Any) -> ZaloInput:
    values: dict[str, Any] = {
        "app_id": "app",
        "oa_secret_key": "oa-secret",
        "dry_run": True,
        "token_file": str(tmp_path / "t.json"),
    }
    values.update(overrides)
    return ZaloInput(ZaloConfig(**values))


def messenger() -> MessengerInput:
    return MessengerInput(MessengerConfig(app_secret="fb-secret", verify_token="v", dry_run=True))


@pytest.mark.parametrize("kind", ["webchat", "rest", "zalo", "messenger"])
async def test_big_bodies_are_413_and_other_content_types_415(tmp_path: Path, kind: str) -> None:
    channel = {
        "webchat": lambda: webchat(tmp_path),
        "rest": lambda: RestInput(RestConfig(db_path=":memory:")),
        "zalo": lambda: zalo(tmp_path),
        "messenger": messenger,
    }[kind]()
    path = {
        "webchat": "/webhooks/webchat/send",
        "rest": "/webhooks/rest/webhook",
        "zalo": "/webhooks/zalo/webhook",
        "messenger": "/webhooks/messenger/webhook",
    }[kind]
    _, agent, client = build_app(channel)
    big = await client.post(path, body=MIB, headers=JSON)
    assert big.status == 413 and big.json()["error"] == "payload_too_large"
    # a body that says it is big is refused on its Content-Length too
    plain = await client.post(path, body=b'{"sender": "a", "message": "hi"}', headers={"Content-Type": "text/plain"})
    assert plain.status == 415 and plain.json()["error"] == "unsupported_media_type"
    missing = await client.post(path, body=b'{"sender": "a", "message": "hi"}')
    assert missing.status == 415
    assert agent.messages == []


async def test_long_text_is_cut_before_nlu_on_the_platforms(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("DVC_MAX_TEXT_CHARS", "100")
    channel = zalo(tmp_path)
    _, agent, client = build_app(channel)
    event = {
        "app_id": "app",
        "event_name": "user_send_text",
        "timestamp": str(int(time.time() * 1000)),
        "sender": {"id": "u"},
        "message": {"text": "a" * 5000, "msg_id": "long"},
    }
    raw = json.dumps(event).encode()
    mac = compute_signature("app", raw, event["timestamp"], "oa-secret")
    assert (
        await client.post("/webhooks/zalo/webhook", body=raw, headers={**JSON, "X-ZEvent-Signature": mac})
    ).status == 200
    await channel.wait_idle()
    assert [len(m.text) for m in agent.messages] == [100]


# --------------------------------------------------------------------------- #
# Rate limits (429)
# --------------------------------------------------------------------------- #


async def test_a_burst_of_web_chat_sends_is_429(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("DVC_RATE_LIMITS", "on")
    monkeypatch.setenv("DVC_RATE_SENDS", "5/60")
    monkeypatch.setenv("DVC_RATE_CONVERSATIONS", "3/3600")
    monkeypatch.setenv("DVC_RATE_HANDOFFS", "1/3600")
    channel = webchat(tmp_path)
    _, agent, client = build_app(channel)
    sessions = [await client.post("/webhooks/webchat/session") for _ in range(4)]
    assert [s.status for s in sessions] == [200, 200, 200, 429]
    assert int(sessions[-1].headers["retry-after"]) > 0
    sender, token = sessions[0].json()["sender"], sessions[0].json()["token"]

    def send(text: str, i: int) -> dict[str, Any]:
        return as_json({"sender": sender, "message": text, "client_msg_id": f"m-{i}"}, **{"X-Webchat-Token": token})

    handoffs = [(await client.post("/webhooks/webchat/send", **send("/request_human", i))).status for i in range(2)]
    assert handoffs == [202, 429]
    statuses = [(await client.post("/webhooks/webchat/send", **send(f"câu {i}", 10 + i))).status for i in range(6)]
    # 5 sends a minute: the accepted handoff counted, the refused one did not
    assert statuses == [202, 202, 202, 202, 429, 429]
    await channel.wait_idle()
    assert len(agent.messages) == 5


async def test_a_burst_of_rest_sends_and_new_ids_is_429(monkeypatch: Any) -> None:
    monkeypatch.setenv("DVC_RATE_LIMITS", "on")
    monkeypatch.setenv("DVC_RATE_SENDS", "4/60")
    monkeypatch.setenv("DVC_RATE_CONVERSATIONS", "2/3600")
    _, agent, client = build_app(RestInput(RestConfig(db_path=":memory:")))
    new_ids = [
        (await client.post("/webhooks/rest/webhook", **as_json({"sender": f"s{i}", "message": "hi"}))).status
        for i in range(3)
    ]
    assert new_ids == [200, 200, 429]
    same_id = [
        (await client.post("/webhooks/rest/webhook", **as_json({"sender": "s0", "message": "hi"}))).status
        for _ in range(3)
    ]
    assert same_id == [200, 200, 429]
    assert len(agent.messages) == 4


async def test_a_burst_on_one_conversation_is_429_while_other_conversations_go_on(monkeypatch: Any) -> None:
    monkeypatch.setenv("DVC_RATE_LIMITS", "on")
    monkeypatch.setenv("DVC_RATE_SENDER_SENDS", "3/60")
    _, agent, client = build_app(RestInput(RestConfig(db_path=":memory:")))
    burst = [
        (await client.post("/webhooks/rest/webhook", **as_json({"sender": "bot-1", "message": "hi"}))).status
        for _ in range(5)
    ]
    assert burst == [200, 200, 200, 429, 429]
    others = [
        (await client.post("/webhooks/rest/webhook", **as_json({"sender": f"p{i}", "message": "hi"}))).status
        for i in range(5)
    ]
    assert others == [200] * 5  # the same address, other conversations: the default address limits hold
    assert len(agent.messages) == 8


async def test_default_address_limits_let_a_hotline_evaluation_through(monkeypatch: Any) -> None:
    """300 conversations from one address in a minute (an evaluation, or a carrier's NAT) pass."""
    monkeypatch.setenv("DVC_RATE_LIMITS", "on")
    for kind in ("SENDS", "CONVERSATIONS", "HANDOFFS", "SENDER_SENDS"):
        monkeypatch.delenv(f"DVC_RATE_{kind}", raising=False)
    _, agent, client = build_app(RestInput(RestConfig(db_path=":memory:")))
    statuses = {
        (await client.post("/webhooks/rest/webhook", **as_json({"sender": f"n{i}", "message": "x"}))).status
        for i in range(300)
    }
    assert statuses == {200}


async def test_limits_can_be_turned_off_for_evaluation(monkeypatch: Any) -> None:
    monkeypatch.setenv("DVC_RATE_LIMITS", "off")
    monkeypatch.setenv("DVC_RATE_SENDS", "1/60")
    _, _, client = build_app(RestInput(RestConfig(db_path=":memory:")))
    statuses = {
        (await client.post("/webhooks/rest/webhook", **as_json({"sender": f"e{i}", "message": "x"}))).status
        for i in range(20)
    }
    assert statuses == {200}


# --------------------------------------------------------------------------- #
# Zalo: timestamp window; dedupe across a restart (Zalo and Messenger)
# --------------------------------------------------------------------------- #


def zalo_event(timestamp_ms: int, msg_id: str) -> dict[str, Any]:
    event = {
        "app_id": "app",
        "event_name": "user_send_text",
        "timestamp": str(timestamp_ms),
        "sender": {"id": "u1"},
        "message": {"text": "chào", "msg_id": msg_id},
    }
    raw = json.dumps(event).encode()
    mac = compute_signature("app", raw, event["timestamp"], "oa-secret")
    return {"body": raw, "headers": {**JSON, "X-ZEvent-Signature": mac}}


async def test_zalo_refuses_signed_events_outside_the_window(tmp_path: Path) -> None:
    channel = zalo(tmp_path, timestamp_window=900)
    _, agent, client = build_app(channel)
    now = int(time.time() * 1000)
    old = await client.post("/webhooks/zalo/webhook", **zalo_event(now - 3600_000, "old"))
    assert old.status == 401 and old.json()["error"] == "stale_event"
    future = await client.post("/webhooks/zalo/webhook", **zalo_event(now + 3600_000, "future"))
    assert future.status == 401
    assert (await client.post("/webhooks/zalo/webhook", **zalo_event(now, "fresh"))).status == 200
    await channel.wait_idle()
    assert [m.sender_id for m in agent.messages] == ["zalo:u1"]


async def test_zalo_signed_timestamp_must_be_the_events(tmp_path: Path) -> None:
    """A signature over one timestamp cannot vouch for a body whose event has another."""
    channel = zalo(tmp_path)
    _, agent, client = build_app(channel)
    body = json.dumps(
        {
            "app_id": "app",
            "event_name": "user_send_text",
            "timestamp": "1",
            "message": {"text": "x", "msg_id": "a", "timestamp": "2"},
            "sender": {"id": "u"},
        }
    ).encode()
    mac = compute_signature("app", body, "2", "oa-secret")  # signed with the nested value
    resp = await client.post("/webhooks/zalo/webhook", body=body, headers={**JSON, "X-ZEvent-Signature": mac})
    assert resp.status == 401
    assert agent.messages == []


async def test_dedupe_survives_a_restart(tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    first = zalo(tmp_path)
    _, agent, client = build_app(first)
    assert (await client.post("/webhooks/zalo/webhook", **zalo_event(now, "once"))).status == 200
    await first.wait_idle()
    restarted = zalo(tmp_path)  # a new process: same DVC_DEDUPE_DB, empty memory
    _, agent2, client2 = build_app(restarted)
    again = await client2.post("/webhooks/zalo/webhook", **zalo_event(now, "once"))
    assert again.json()["status"] == "duplicate"
    await restarted.wait_idle()
    assert len(agent.messages) == 1 and agent2.messages == []

    payload = {
        "object": "page",
        "entry": [
            {
                "id": "p",
                "messaging": [
                    {
                        "sender": {"id": "psid"},
                        "recipient": {"id": "p"},
                        "timestamp": now,
                        "message": {"mid": "m.1", "text": "hi"},
                    }
                ],
            }
        ],
    }
    raw = json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(b"fb-secret", raw, hashlib.sha256).hexdigest()
    counts = []
    for _ in range(2):
        channel = messenger()
        _, fb_agent, fb_client = build_app(channel)
        resp = await fb_client.post(
            "/webhooks/messenger/webhook", body=raw, headers={**JSON, "X-Hub-Signature-256": sig}
        )
        counts.append(resp.json()["accepted"])
        await channel.wait_idle()
    assert counts == [1, 0]


# --------------------------------------------------------------------------- #
# Client address
# --------------------------------------------------------------------------- #


class FakeRequest:
    def __init__(self, ip: str, forwarded: str | None = None) -> None:
        self.ip = ip
        self.headers = {"x-forwarded-for": forwarded} if forwarded else {}


def test_client_address_trusts_only_the_proxys_own_entry() -> None:
    proxies = frozenset({"127.0.0.1"})
    # behind our proxy: the entry it appended (the last), not what the client wrote first
    assert net.client_address(FakeRequest("127.0.0.1", "6.6.6.6, 203.0.113.7"), proxies) == "203.0.113.7"
    assert net.client_address(FakeRequest("127.0.0.1"), proxies) == "127.0.0.1"
    # not from a trusted proxy: the header is ignored
    assert net.client_address(FakeRequest("198.51.100.2", "6.6.6.6"), proxies) == "198.51.100.2"
    assert net.client_address(FakeRequest("127.0.0.1", "6.6.6.6"), frozenset()) == "127.0.0.1"


def test_rate_limiter_window_and_concurrency() -> None:
    limiter = guard.RateLimiter({"sends": (3, 10.0)}, enabled=True)
    for t in (0.0, 1.0, 2.0):
        limiter.hit("sends", "a", now=t)
    with pytest.raises(guard.Rejected) as refused:
        limiter.hit("sends", "a", now=3.0)
    assert refused.value.status == 429 and refused.value.retry_after == 7
    limiter.hit("sends", "b", now=3.0)  # per client
    limiter.hit("sends", "a", now=10.5)  # the first hit left the window
