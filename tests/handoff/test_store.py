"""The store on both backends: lifecycle, the claim race, redaction on write, restart safety."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from handoff.passwords import hash_password
from handoff.store import Store

SECRET_MESSAGES = [
    {"ts": 1.0, "role": "user", "text": "cho tôi gặp nhân viên, mật khẩu là abc123", "source_key": "k1"},
    {"ts": 2.0, "role": "bot", "text": "Tôi sẽ chuyển bạn.", "source_key": "k2"},
    {"ts": 3.0, "role": "user", "text": "OTP 654321, cccd 079123456789, sđt 0912345678", "source_key": "k3"},
]


def _agent(store: Store, name: str) -> int:
    return store.create_agent(name, name.title(), hash_password("x" * 12, n=2**4))


def test_create_queue_claim_finish(store):
    alice = _agent(store, "alice")
    first = store.create_handoff("s1", "webchat", "citizen_request", {"question": "q"}, SECRET_MESSAGES, now=100.0)
    second = store.create_handoff("s2", "rest", "repeated_abstain", {}, [], now=101.0)
    assert (first["status"], first["position"], first["existing"]) == ("queued", 1, False)
    assert second["position"] == 2
    # asking again while queued returns the same handoff, not a second one
    again = store.create_handoff("s1", "webchat", "citizen_request", {}, [], now=102.0)
    assert again["id"] == first["id"] and again["existing"] is True
    assert [h["sender_id"] for h in store.list_handoffs()] == ["s1", "s2"]

    assert store.claim(first["id"], alice) is True
    assert store.claim(first["id"], alice) is False  # not queued any more
    assert store.queue_position(second["id"]) == 1
    got = store.get_handoff(first["id"])
    assert got["status"] == "claimed" and got["claimed_by_username"] == "alice"
    assert got["understanding"] == {"question": "q"}
    assert store.finish(first["id"], alice, "returned") is True
    assert store.get_handoff(first["id"])["status"] == "returned"
    # once finished, the sender can be queued again
    third = store.create_handoff("s1", "webchat", "citizen_request", {}, [], now=103.0)
    assert third["id"] != first["id"] and third["existing"] is False
    assert [a["action"] for a in store.audit_log(first["id"])] == ["claim", "returned"]


def test_only_the_claiming_agent_can_finish_or_release(store):
    alice, bob = _agent(store, "alice"), _agent(store, "bob")
    h = store.create_handoff("s1", "webchat", "citizen_request", {}, [])
    assert store.finish(h["id"], alice, "closed") is False  # not claimed yet
    assert store.claim(h["id"], alice)
    assert store.finish(h["id"], bob, "closed") is False
    assert store.release(h["id"], bob) is False
    assert store.release(h["id"], alice) is True
    assert store.get_handoff(h["id"])["status"] == "queued"
    assert store.claim(h["id"], bob)
    assert store.finish(h["id"], bob, "closed") is True


def test_offline_handoffs_are_recorded_but_not_queued(store):
    h = store.create_handoff("s1", "zalo", "citizen_request", {}, [], status="offline")
    assert h["status"] == "offline" and h["position"] == 0
    assert store.list_handoffs() == []
    assert store.latest_handoff("s1")["id"] == h["id"]
    with pytest.raises(ValueError):
        store.create_handoff("s1", "zalo", "x", {}, [], status="claimed")


def test_two_concurrent_claims_exactly_one_wins(store_url):
    """Two agents, two connections, the same queued handoffs, released at the same instant."""
    setup = Store(store_url)
    agents = [_agent(setup, "alice"), _agent(setup, "bob")]
    handoffs = [setup.create_handoff(f"race-{i}", "webchat", "citizen_request", {}, [])["id"] for i in range(15)]
    stores = [Store(store_url), Store(store_url)]
    results: dict[int, list[bool]] = {0: [], 1: []}

    def worker(i: int) -> None:
        for handoff_id in handoffs:
            barrier.wait(timeout=30)
            results[i].append(stores[i].claim(handoff_id, agents[i]))

    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=worker, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        for n, handoff_id in enumerate(handoffs):
            winners = [i for i in (0, 1) if results[i][n]]
            assert len(winners) == 1, (handoff_id, results)
            assert setup.get_handoff(handoff_id)["claimed_by"] == agents[winners[0]]
    finally:
        for s in [setup, *stores]:
            s.close()


def test_concurrent_creates_for_one_sender_make_one_handoff(store_url):
    stores = [Store(store_url) for _ in range(4)]
    stores[0].ping()  # schema first, so the race is about the handoff only
    ids: list[str] = []
    barrier = threading.Barrier(4)

    def worker(s: Store) -> None:
        barrier.wait(timeout=30)
        ids.append(s.create_handoff("same-sender", "webchat", "citizen_request", {}, [])["id"])

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert len(ids) == 4 and len(set(ids)) == 1
    finally:
        for s in stores:
            s.close()


def test_citizen_secrets_never_reach_the_database(store):
    h = store.create_handoff("s1", "webchat", "citizen_request", {}, SECRET_MESSAGES)
    store.add_messages(h["id"], [{"ts": 4.0, "role": "user", "text": "mã 6 số 111111 đây", "source_key": "k4"}])
    texts = [m["text"] for m in store.messages(h["id"])]
    joined = " ".join(texts)
    for secret in ("abc123", "654321", "111111"):
        assert secret not in joined
    assert "[đã ẩn]" in texts[0]
    # ID and phone numbers are kept (the agent may reveal them); masking happens when shown
    assert "079123456789" in joined and "0912345678" in joined


def test_messages_are_idempotent_per_source_key(store):
    h = store.create_handoff("s1", "webchat", "citizen_request", {}, SECRET_MESSAGES[:2])
    assert store.add_messages(h["id"], SECRET_MESSAGES, synced_until=3.0) == 1
    assert store.add_messages(h["id"], SECRET_MESSAGES, synced_until=3.0) == 0
    assert len(store.messages(h["id"])) == 3
    assert store.get_handoff(h["id"])["synced_until"] >= 3.0


def test_agents_sessions_heartbeats_and_rate_limit_records(store):
    alice = _agent(store, "alice")
    with pytest.raises(ValueError):
        _agent(store, "alice")
    now = time.time()
    assert store.online_agents(120, now) == 0
    store.heartbeat(alice, now - 130)
    assert store.online_agents(120, now) == 0
    store.heartbeat(alice, now - 10)
    assert store.online_agents(120, now) == 1
    store.create_session(alice, "tokenhash", now + 60, "127.0.0.1", now)
    assert store.session_agent("tokenhash", now)["username"] == "alice"
    assert store.session_agent("tokenhash", now + 61) is None
    store.set_disabled("alice", True)
    assert store.session_agent("tokenhash", now) is None
    assert store.online_agents(120, now) == 0
    store.record_login_failure([("ip", "1.2.3.4"), ("user", "bob")], now - 400)
    store.record_login_failure([("ip", "1.2.3.4"), ("user", "bob")], now)
    assert store.login_failures("ip", "1.2.3.4", now - 300)[0] == 1
    assert store.login_failures("user", "bob", now - 500)[0] == 2
    store.clear_login_failures("user", "bob")
    assert store.login_failures("user", "bob", 0)[0] == 0


def test_callbacks(store):
    alice = _agent(store, "alice")
    h = store.create_handoff("s1", "zalo", "citizen_request", {}, [], status="offline")
    cb = store.add_callback("s1", "zalo", "Nguyễn Văn An", "0912345678", "đồng ý", h["id"])
    assert [c["id"] for c in store.list_callbacks()] == [cb]
    assert store.finish_callback(cb, alice) is True
    assert store.finish_callback(cb, alice) is False
    assert store.list_callbacks() == [] and store.list_callbacks("done")[0]["done_by_username"] == "alice"


def test_restart_safety(store_url):
    """Close every connection (a process restart) and open again: nothing is lost."""
    first = Store(store_url)
    alice = _agent(first, "alice")
    h = first.create_handoff("s1", "webchat", "citizen_request", {"question": "q"}, SECRET_MESSAGES)
    first.claim(h["id"], alice)
    first.create_session(alice, "tok", time.time() + 3600, None)
    first.add_messages(h["id"], [{"ts": 9.0, "role": "agent", "text": "Chào bạn", "agent_id": alice}])
    first.close()
    second = Store(store_url)
    try:
        got = second.get_handoff(h["id"])
        assert got["status"] == "claimed" and got["claimed_by"] == alice
        assert [m["role"] for m in second.messages(h["id"])] == ["user", "bot", "user", "agent"]
        assert second.session_agent("tok")["username"] == "alice"
    finally:
        second.close()


def test_sqlite_file_is_created_on_first_use_in_wal_mode(tmp_path):
    path = tmp_path / "sub" / "handoff.sqlite3"
    s = Store(f"sqlite:///{path}")
    assert not path.exists()  # nothing at construction
    s.ping()
    s.close()
    assert path.exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_relative_sqlite_url_is_under_the_project(tmp_path):
    from core.settings import PROJECT_ROOT

    assert Store("sqlite:///var/x.sqlite3").path == PROJECT_ROOT / "var" / "x.sqlite3"
    assert Store(f"sqlite:///{tmp_path}/y.sqlite3").path == tmp_path / "y.sqlite3"


def test_deliveries_lease_order_and_restart(store, store_url):
    now = 1_000.0
    first, mine = store.delivery_add("zalo", "zalo:1", '{"message": {"text": "a"}}', lease=30, now=now)
    assert mine  # nothing older: the caller sends it now
    second, mine = store.delivery_add("zalo", "zalo:1", '{"message": {"text": "b"}}', lease=30, now=now)
    assert not mine  # held back behind the first
    other, _ = store.delivery_add("messenger", "messenger:1", "{}", lease=30, now=now)
    # while the first is leased nobody else takes anything of zalo:1
    assert store.delivery_claim("zalo", lease=30, now=now + 1) == []
    store.delivery_retry(first, next_at=now + 5, status=503, error="down")
    assert store.delivery_claim("zalo", lease=30, now=now + 2) == []  # not due; b still waits behind it
    # a second replica (its own connections) and this one claim at the same moment: one gets it
    replica = Store(store_url)
    try:
        claims = [store.delivery_claim("zalo", lease=30, now=now + 6), replica.delivery_claim("zalo", 30, now=now + 6)]
    finally:
        replica.close()
    assert sorted(len(c) for c in claims) == [0, 1] and [r["id"] for c in claims for r in c] == [first]
    store.delivery_sent(first, 200, now=now + 7)
    [row] = store.delivery_claim("zalo", lease=30, now=now + 8)
    assert row["id"] == second and row["attempts"] == 0
    # the process dies holding it: after the lease it is claimed again, once
    assert store.delivery_claim("zalo", lease=30, now=now + 20) == []
    assert [r["id"] for r in store.delivery_claim("zalo", lease=30, now=now + 40)] == [second]
    store.delivery_failed(second, 400, "refused", now=now + 41)
    assert [r["id"] for r in store.deliveries("failed")] == [second]
    assert [r["id"] for r in store.deliveries("sent", recipient="zalo:1")] == [first]
    assert store.deliveries("sent")[0]["body"] == ""
    assert store.delivery_counts() == {"pending": 1, "sent": 1, "failed": 1}
    assert store.purge(before=now + 100)["deliveries"] == 2  # the pending one stays
    assert [r["id"] for r in store.deliveries("pending")] == [other]
