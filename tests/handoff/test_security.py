"""Issue #15 on the handoff side and data at rest: retention of every store, owner-only files,
log rotation, session idle timeout, password cost, Secure cookies, atomic login counting."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from handoff import passwords
from handoff.store import Store
from tests.handoff.harness import FakeRasa, HandoffServer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import retention

DAY = 86400.0
PASSWORD = "mat-khau-rat-dai-1"


def _handoff(store: Store, sender: str, now: float) -> str:
    return store.create_handoff(
        sender,
        "webchat",
        "citizen_request",
        {"question": "q"},
        [{"ts": now, "role": "user", "text": "gặp nhân viên", "source_key": "k"}],
        now=now,
    )["id"]


def test_purge_removes_old_rows_and_keeps_open_work(store: Store) -> None:
    now = time.time()
    agent = store.create_agent("alice", "Alice", passwords.hash_password(PASSWORD, n=2**10))
    old_closed = _handoff(store, "old", now - 40 * DAY)
    assert store.claim(old_closed, agent, now=now - 40 * DAY)
    assert store.finish(old_closed, agent, "closed", now=now - 40 * DAY)
    old_open = _handoff(store, "still-waiting", now - 40 * DAY)
    recent = _handoff(store, "recent", now - DAY)
    assert store.claim(recent, agent, now=now - DAY)
    assert store.finish(recent, agent, "closed", now=now - DAY)
    store.add_callback("old", "webchat", "A", "0912345678", "đồng ý", handoff_id=old_closed, now=now - 40 * DAY)
    open_cb = store.add_callback("x", "webchat", "B", "0987654321", "đồng ý", now=now - 40 * DAY)

    counts = store.purge(now - 30 * DAY, audit_before=now - 365 * DAY)
    assert counts["handoffs"] == 1 and counts["messages"] >= 1 and counts["callbacks"] == 1
    assert store.get_handoff(old_closed) is None
    assert store.get_handoff(old_open) is not None  # still in the queue: never purged
    assert store.get_handoff(recent) is not None
    assert [c["id"] for c in store.list_callbacks("open")] == [open_cb]


def test_sessions_end_when_idle_and_at_the_latest_after_the_maximum(store: Store) -> None:
    agent = store.create_agent("bob", "Bob", passwords.hash_password(PASSWORD, n=2**10))
    t0 = 1_000_000.0
    store.create_session(agent, "h1", t0 + 600, None, now=t0)
    # used within the idle time: extended
    assert store.session_agent("h1", now=t0 + 500, idle_seconds=600, max_seconds=3600)["id"] == agent
    assert store.session_agent("h1", now=t0 + 1000, idle_seconds=600, max_seconds=3600) is not None
    # not used for longer than the idle time: gone
    assert store.session_agent("h1", now=t0 + 1000 + 601, idle_seconds=600, max_seconds=3600) is None
    # never beyond the maximum, however busy
    store.create_session(agent, "h2", t0 + 600, None, now=t0)
    for t in range(500, 3600, 500):
        assert store.session_agent("h2", now=t0 + t, idle_seconds=600, max_seconds=3600) is not None
    assert store.session_agent("h2", now=t0 + 3601, idle_seconds=600, max_seconds=3600) is None


def test_login_attempts_are_counted_atomically(store: Store) -> None:
    limits = [("user_ip", "alice|10.0.0.1", 5), ("ip", "10.0.0.1", 20)]
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda _: store.login_attempt(limits, 300), range(12)))
    allowed = [keys for wait, keys in results if not wait]
    assert len(allowed) == 5 and all(wait > 0 for wait, keys in results if not keys)
    # another address is not affected
    assert store.login_attempt([("user_ip", "alice|10.0.0.2", 5)], 300)[0] == 0


def test_password_cost_follows_owasp_and_old_hashes_are_upgraded() -> None:
    assert (passwords.N, passwords.R, passwords.P) >= (2**17, 8, 1) or os.environ.get("HANDOFF_SCRYPT_N")
    weak = passwords.hash_password(PASSWORD, n=2**14)
    assert passwords.verify_password(PASSWORD, weak)
    assert passwords.needs_rehash(weak)
    assert not passwords.needs_rehash(passwords.hash_password(PASSWORD))


def test_cookie_is_secure_except_on_plain_http_localhost(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    store = Store(url)
    store.create_agent("alice", "Alice", passwords.hash_password(PASSWORD, n=2**14))
    rasa = FakeRasa()
    server = HandoffServer(url, rasa.url, tmp_path / "c.log").start()
    try:

        def cookie(headers: dict[str, str]) -> str:
            response = httpx.post(
                server.url + "/api/login", json={"username": "alice", "password": PASSWORD}, headers=headers, timeout=60
            )
            assert response.status_code == 200, response.text
            return response.headers["set-cookie"].lower()

        assert "secure" not in cookie({})  # http://127.0.0.1 (make run)
        assert "secure" in cookie({"Host": "console.example.gov.vn"})
        assert "secure" in cookie({"X-Forwarded-Proto": "https"})
        assert "httponly" in cookie({}) and "samesite=strict" in cookie({})
        # the weak hash made above was upgraded at the first login
        assert not passwords.needs_rehash(store.agent_by_username("alice")["password_hash"])
    finally:
        server.stop()
        rasa.close()
        store.close()


def test_retention_job_purges_every_store_rotates_logs_and_locks_down(tmp_path: Path, monkeypatch) -> None:
    var = tmp_path / "var"
    (var / "logs").mkdir(parents=True)
    now = time.time()
    tracker = var / "rasa-tracker.sqlite3"
    with sqlite3.connect(tracker) as db:
        db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, timestamp REAL, data TEXT)")
        db.executemany(
            "INSERT INTO events (sender_id, timestamp, data) VALUES (?, ?, '{}')",
            [("gone", now - 40 * DAY), ("gone", now - 39 * DAY), ("active", now - 40 * DAY), ("active", now - DAY)],
        )
    mailboxes = {name: var / f"{name}.sqlite3" for name in ("webchat", "rest-outbox")}
    for path in mailboxes.values():
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE events (sender TEXT, id INTEGER, ts REAL, data TEXT)")
            db.executemany("INSERT INTO events VALUES (?, ?, ?, '{}')", [("a", 1, now - 40 * DAY), ("a", 2, now)])
    dedupe = var / "webhook-dedupe.sqlite3"
    with sqlite3.connect(dedupe) as db:
        db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, ts REAL)")
        db.executemany("INSERT INTO seen VALUES (?, ?)", [("old", now - 8 * DAY), ("new", now)])
    store_url = f"sqlite:///{var / 'handoff.sqlite3'}"
    store = Store(store_url)
    old = _handoff(store, "old", now - 40 * DAY)
    with store.tx() as db:
        db.run("UPDATE handoffs SET status = 'closed' WHERE id = ?", (old,))
    store.close()
    log = var / "logs" / "rasa-5005.log"
    log.write_text("conversation log\n")
    for path in (tracker, log, dedupe):
        path.chmod(0o644)
    var.chmod(0o755)
    for name, value in {
        "DVC_DATA_DIR": str(var),
        "RASA_TRACKER_DB": str(tracker),
        "WEBCHAT_DB": str(mailboxes["webchat"]),
        "REST_OUTBOX_DB": str(mailboxes["rest-outbox"]),
        "DVC_DEDUPE_DB": str(dedupe),
        "HANDOFF_DATABASE_URL": store_url,
    }.items():
        monkeypatch.setenv(name, value)

    report = retention.run(30)

    assert report["tracker_events"] == 2 and report["webchat_events"] == 1 and report["rest_outbox_events"] == 1
    assert report["dedupe_keys"] == 1 and report["handoff"]["handoffs"] == 1
    with sqlite3.connect(tracker) as db:
        assert {r[0] for r in db.execute("SELECT sender_id FROM events")} == {"active"}
    assert log.read_text() == "" and (var / "logs" / "rasa-5005.log.1").read_text() == "conversation log\n"
    assert var.stat().st_mode & 0o777 == 0o700
    for path in var.rglob("*"):
        assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path
    assert json.dumps(report)  # printable


def test_retention_purges_the_shared_mailboxes_in_postgres(monkeypatch) -> None:
    import psycopg

    from bot.channels.shared_mailbox import SCHEMA
    from tests.handoff.conftest import PostgresSchema

    now = time.time()
    with PostgresSchema() as schema:
        with psycopg.connect(schema.url, autocommit=True) as conn:
            for statement in SCHEMA:
                conn.execute(statement)
            for box, sender, ts in (
                ("webchat", "old", now - 40 * DAY),
                ("rest", "new", now - 40 * DAY),
                ("rest", "new", now),
            ):
                conn.execute("INSERT INTO mailbox_senders VALUES (%s, %s, 1) ON CONFLICT DO NOTHING", (box, sender))
                conn.execute(
                    "INSERT INTO mailbox_events VALUES (%s, %s, (SELECT COUNT(*) + 1 FROM mailbox_events"
                    " WHERE sender = %s), %s, NULL, '{}')",
                    (box, sender, sender, ts),
                )
        for name in ("WEBCHAT_DB", "REST_OUTBOX_DB"):
            monkeypatch.setenv(name, schema.url)
        assert retention.purge_shared_mailboxes(now - 30 * DAY) == 2
        with psycopg.connect(schema.url, autocommit=True) as conn:
            assert conn.execute("SELECT box, sender FROM mailbox_senders").fetchall() == [("rest", "new")]
            assert conn.execute("SELECT COUNT(*) FROM mailbox_events").fetchone()[0] == 1
