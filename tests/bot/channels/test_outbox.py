"""Replies to Messenger/Zalo through the durable outbox, against a real HTTP stand-in of the Send API:
retried on 5xx until delivered once, refused ones kept for the console, order kept per citizen,
pending ones resumed by the next process, one pooled connection, and a dead database does not
silence the bot."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aioresponses import aioresponses

from bot.channels.messenger import MessengerConfig, MessengerInput
from bot.channels.outbox import Attempt, Outbox
from bot.channels.zalo import ZALO_SEND_URL, ZaloConfig, ZaloOutput
from bot.channels.zalo_tokens import ZaloTokenStore
from handoff.store import Store


class SendApi:
    """Answers the scripted statuses in turn, then 200; records every request and the client's port."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[int, dict[str, Any]]] = []
        self.peers: set[Any] = set()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        status = self.statuses.pop(0) if self.statuses else 200
        self.requests.append((status, body))
        if status == 200:
            return web.json_response({"recipient_id": "r", "message_id": f"m{len(self.requests)}"})
        return web.json_response({"error": {"message": "Service unavailable", "code": 2}}, status=status)

    def texts(self, status: int | None = 200) -> list[str]:
        return [b["message"].get("text", "") for s, b in self.requests if status is None or s == status]


@asynccontextmanager
async def send_api(statuses: list[int]) -> AsyncIterator[SendApi]:
    api = SendApi(statuses)
    app = web.Application()
    app.router.add_post("/send", api.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    api.url = f"http://127.0.0.1:{port}/send"
    try:
        yield api
    finally:
        await runner.cleanup()


def messenger(api: SendApi) -> MessengerInput:
    channel = MessengerInput(
        MessengerConfig(app_secret="s", verify_token="v", page_access_token="page-token", send_url_override=api.url)
    )
    assert channel.outbox is not None
    channel.outbox.base_delay = 0.05  # 0.05, 0.1, 0.2 s instead of 1, 2, 4
    channel.outbox.poll = 0.05
    return channel


def outbox_store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'outbox.sqlite3'}")  # the file conftest points DVC_OUTBOX_URL at


async def until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_503_twice_then_200_delivers_the_reply_once(tmp_path: Path) -> None:
    async with send_api([503, 503]) as api:
        channel = messenger(api)
        await channel.start()
        try:
            assert await channel.get_output_channel().send_text_message("messenger:p1", "Xin chào") is True
            await until(lambda: len(api.requests) >= 3)
            await asyncio.sleep(0.4)  # several worker rounds: nothing more goes out
        finally:
            await channel.stop()
    assert [s for s, _ in api.requests] == [503, 503, 200]
    assert api.texts() == ["Xin chào"]
    assert len({json.dumps(b, sort_keys=True) for _, b in api.requests}) == 1  # the same message each time
    [row] = outbox_store(tmp_path).deliveries("sent")
    assert row["attempts"] == 3 and row["body"] == "" and row["last_status"] == 200


@pytest.mark.asyncio
async def test_a_refused_reply_is_not_retried_and_is_kept_for_the_console(tmp_path: Path) -> None:
    async with send_api([400]) as api:
        channel = messenger(api)
        await channel.start()
        try:
            assert await channel.get_output_channel().send_text_message("messenger:p2", "Chào bạn") is False
            await asyncio.sleep(0.3)
        finally:
            await channel.stop()
    assert [s for s, _ in api.requests] == [400]
    [row] = outbox_store(tmp_path).deliveries("failed")
    assert row["recipient"] == "messenger:p2" and row["last_status"] == 400 and "code 2" in row["last_error"]
    assert "Chào bạn" in row["body"]  # kept, so the agent sees what did not arrive


@pytest.mark.asyncio
async def test_a_citizens_replies_keep_their_order_behind_a_retry(tmp_path: Path) -> None:
    async with send_api([503]) as api:
        channel = messenger(api)
        output = channel.get_output_channel()
        await channel.start()
        try:
            assert await output.send_text_message("messenger:p3", "Một") is True  # 503: waits for a retry
            assert await output.send_text_message("messenger:p3", "Hai") is True  # queued behind it
            assert await output.send_text_message("messenger:p4", "Khác") is True  # another citizen: at once
            assert api.texts(None) == ["Một", "Khác"]
            await until(lambda: len(api.texts()) == 3)
        finally:
            await channel.stop()
    assert api.texts() == ["Khác", "Một", "Hai"]


@pytest.mark.asyncio
async def test_a_restart_sends_what_was_pending_once_and_nothing_already_sent(tmp_path: Path) -> None:
    store = outbox_store(tmp_path)
    body = json.dumps({"message": {"text": "Đang chờ"}, "human_agent": False})
    # the previous process: one reply sent, one leased mid-send when it was killed
    done, _ = store.delivery_add("messenger", "messenger:p5", body.replace("Đang chờ", "Đã gửi"), lease=30)
    store.delivery_sent(done, 200)
    store.delivery_add("messenger", "messenger:p5", body, lease=0.2)
    async with send_api([]) as api:
        channel = messenger(api)
        await channel.start()  # the worker of the new process
        try:
            await until(lambda: len(api.requests) == 1)
            await asyncio.sleep(0.3)
            assert await channel.outbox.run_due() == 0  # type: ignore[union-attr]
        finally:
            await channel.stop()
    assert api.texts() == ["Đang chờ"]
    assert store.delivery_counts() == {"pending": 0, "sent": 2, "failed": 0}


@pytest.mark.asyncio
async def test_replies_share_one_pooled_connection(tmp_path: Path) -> None:
    async with send_api([]) as api:
        channel = messenger(api)
        output = channel.get_output_channel()
        for text in ("a", "b", "c"):
            assert await output.send_text_message("messenger:p6", text) is True
        assert channel.get_output_channel().http is channel.http
        await channel.stop()
    assert api.texts() == ["a", "b", "c"] and len(api.peers) == 1


@pytest.mark.asyncio
async def test_without_a_database_the_reply_is_still_sent_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("DVC_OUTBOX_URL", f"sqlite:///{blocker / 'outbox.sqlite3'}")
    async with send_api([]) as api:
        channel = messenger(api)
        assert await channel.get_output_channel().send_text_message("messenger:p7", "Vẫn gửi") is True
        await channel.stop()
    assert api.texts() == ["Vẫn gửi"]
    assert "outbox unavailable" in caplog.text


@pytest.mark.asyncio
async def test_outbox_off_sends_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_OUTBOX_URL", "off")
    channel = MessengerInput(MessengerConfig(app_secret="s", verify_token="v", page_access_token="t"))
    assert channel.outbox is None


@pytest.mark.asyncio
async def test_zalo_outcomes(tmp_path: Path) -> None:
    config = ZaloConfig(app_id="a", oa_secret_key="k", access_token="t", token_file=str(tmp_path / "tokens.json"))
    output = ZaloOutput(config, ZaloTokenStore(config))
    with aioresponses() as m:
        m.post(ZALO_SEND_URL, payload={"error": 0, "message": "Success"})
        assert (await output.send_once("zalo:u", {"text": "x"})).outcome == "sent"
        m.post(ZALO_SEND_URL, payload={"error": -213, "message": "User has not followed OA"})
        refused = await output.send_once("zalo:u", {"text": "x"})
        assert (refused.outcome, refused.status) == ("failed", 200) and "-213" in refused.error
        m.post(ZALO_SEND_URL, status=502, body="<html>Bad gateway</html>")
        assert (await output.send_once("zalo:u", {"text": "x"})).outcome == "retry"
        m.post(ZALO_SEND_URL, exception=asyncio.TimeoutError())
        assert (await output.send_once("zalo:u", {"text": "x"})) == Attempt("retry", 0, "timeout")


def test_backoff_doubles_up_to_the_cap() -> None:
    box = Outbox("messenger", None, None, base_delay=1.0, max_delay=300.0)  # type: ignore[arg-type]
    for attempts, expected in ((1, 1.0), (2, 2.0), (5, 16.0), (20, 300.0)):
        assert expected * 0.8 <= box.delay(attempts) <= expected * 1.2


def test_http_outcomes() -> None:
    assert Attempt.from_http(200, accepted=True).outcome == "sent"
    assert [Attempt.from_http(s).outcome for s in (0, 429, 500, 503)] == ["retry"] * 4
    assert [Attempt.from_http(s).outcome for s in (400, 403, 404)] == ["failed"] * 3
