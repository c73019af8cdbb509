"""The web chat mailbox and the REST outbox in PostgreSQL, as two Rasa replicas see them: one order of
ids, any replica serving any poll, a message appended on one replica waking a long poll held by the
other (LISTEN/NOTIFY), REST messages handed out once, and a dead database falling back to memory.

PostgreSQL as for the handoff tests (HANDOFF_TEST_POSTGRES_URL; .ci/run starts it); each test has
its own schema."""

import asyncio
import time
from collections.abc import Iterator

import pytest

from bot.channels.mailbox import MailboxConfig, long_poll
from bot.channels.rest import Outbox, RestConfig
from bot.channels.shared_mailbox import PgMailbox, PgOutbox
from tests.handoff.conftest import PostgresSchema


@pytest.fixture()
def pg_url() -> Iterator[str]:
    with PostgresSchema() as schema:
        yield schema.url


def test_config_opens_the_shared_mailbox_for_a_postgres_url(pg_url: str, tmp_path) -> None:
    webchat = MailboxConfig(db_path=pg_url).open()
    rest = RestConfig(db_path=pg_url).open(Outbox)
    local = MailboxConfig(db_path=str(tmp_path / "webchat.sqlite3")).open()
    try:
        assert type(webchat) is PgMailbox and type(rest) is PgOutbox and type(local) is not PgMailbox
        assert webchat.persistent and rest.persistent
    finally:
        for box in (webchat, rest, local):
            box.close()


def test_two_replicas_share_ids_history_and_epoch(pg_url: str) -> None:
    a, b = PgMailbox(pg_url), PgMailbox(pg_url)
    try:
        ids = [a.append("s1", {"type": "user", "text": "một"})["id"]]
        ids.append(b.append("s1", {"type": "bot", "text": "hai"})["id"])
        ids.append(a.append("s1", {"type": "user", "text": "ba", "client_msg_id": "c-3"})["id"])
        assert ids == [1, 2, 3]
        assert [e["text"] for e in b.events_after("s1", 0)] == ["một", "hai", "ba"]
        assert [e["text"] for e in a.events_after("s1", 1)] == ["hai", "ba"]
        assert a.last_id("s1") == b.last_id("s1") == 3 and b.last_id("other") == 0
        assert b.has_client_msg("s1", "c-3") and not b.has_client_msg("s1", "c-4")
        assert b.find_client_msg("s1", "c-3")["text"] == "ba"
        assert b.last_event("s1")["text"] == "ba" and b.last_event("other") is None
        assert not b.was_handled("s1", "c-3")
        a.mark_handled("s1", "c-3")  # the bot went through it on replica a
        assert b.was_handled("s1", "c-3")
        assert a.epoch == b.epoch
        # a web chat and a REST conversation with the same id do not mix
        rest = PgOutbox(pg_url)
        assert rest.last_id("s1") == 0 and rest.epoch != a.epoch
        rest.close()
    finally:
        a.close()
        b.close()


@pytest.mark.asyncio
async def test_an_append_on_one_replica_wakes_a_long_poll_on_the_other(pg_url: str) -> None:
    a, b = PgMailbox(pg_url), PgMailbox(pg_url)
    b.fallback_poll = 60.0  # only a notification can end the wait early
    try:
        first = asyncio.create_task(long_poll(b, "s2", 0, 0.2, 10))
        assert await first == []  # nothing yet; the listener is now connected
        deadline = time.monotonic() + 10
        while not b._listening:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        poll = asyncio.create_task(long_poll(b, "s2", 0, 30.0, 10))
        await asyncio.sleep(0.3)
        assert not poll.done()
        a.append("s2", {"type": "agent", "text": "Tổng đài viên đây ạ"})
        events = await asyncio.wait_for(poll, 10)  # long before the 30 s wait ends
        assert [e["text"] for e in events] == ["Tổng đài viên đây ạ"]
    finally:
        a.close()
        b.close()


def test_rest_messages_are_handed_out_once_across_replicas(pg_url: str) -> None:
    a, b = PgOutbox(pg_url), PgOutbox(pg_url)
    try:
        for i in range(1, 6):
            (a if i % 2 else b).append("r1", {"text": f"tin {i}"})
        taken = a.take_undelivered("r1") + b.take_undelivered("r1")
        assert [e["text"] for e in taken] == [f"tin {i}" for i in range(1, 6)]
        assert b.take_undelivered("r1") == [] and a.delivered("r1") == 5
        b.append("r1", {"text": "tin 6"})
        assert [e["text"] for e in a.take_undelivered("r1")] == ["tin 6"]
        a.mark_delivered("r1", 99)  # never past the end
        assert b.delivered("r1") == 6
    finally:
        a.close()
        b.close()


def test_without_postgres_the_mailbox_keeps_working_in_memory(caplog: pytest.LogCaptureFixture) -> None:
    box = PgMailbox("postgresql://postgres@127.0.0.1:1/none")
    try:
        assert not box.persistent
        assert box.append("s3", {"type": "user", "text": "alo"})["id"] == 1
        assert [e["text"] for e in box.events_after("s3", 0)] == ["alo"] and box.last_id("s3") == 1
    finally:
        box.close()
    assert "cannot use PostgreSQL" in caplog.text


def test_the_webhook_dedupe_is_shared_by_replicas(pg_url: str) -> None:
    from bot.channels.dedupe import SeenEvents

    a, b = SeenEvents("zalo", 100, pg_url), SeenEvents("zalo", 100, pg_url)
    assert a.seen("msg-1") is False  # first time, on replica a
    assert b.seen("msg-1") is True and "msg-1" in b  # the platform resent it to replica b
    assert SeenEvents("messenger", 100, pg_url).seen("msg-1") is False  # another channel's key
    b.discard("msg-1")  # processing failed on b: the platform's next try must go through
    assert SeenEvents("zalo", 100, pg_url).seen("msg-1") is False
