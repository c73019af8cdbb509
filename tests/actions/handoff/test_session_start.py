"""actions/session.py: a new Rasa session keeps a handed-off conversation paused."""

from __future__ import annotations

from handoff.store import Store
from tests.actions.handoff.test_action import db, run, tracker  # noqa: F401 - db is a fixture

from actions.session import ActionSessionStart


def kinds(events: list[dict]) -> list[str]:
    return [e["event"] for e in events]


def test_without_a_handoff_the_new_session_starts_like_rasa_s(db: Store):  # noqa: F811
    messages, events = run(
        ActionSessionStart(),
        tracker("xin chào", "greet"),
        {"session_config": {"carry_over_slots_to_new_session": False}},
    )
    assert messages == []
    assert kinds(events) == ["session_started", "action"]
    assert events[-1]["name"] == "action_listen"


def test_an_open_handoff_keeps_the_new_session_paused(db: Store):  # noqa: F811
    for status in ("queued", "claimed"):
        sender = f"citizen-{status}"
        record = db.create_handoff(sender, "rest", "citizen_request", {}, [], status="queued")
        if status == "claimed":
            agent = db.create_agent("alice", "Alice", "scrypt$x")
            assert db.claim(record["id"], agent)
        _, events = run(ActionSessionStart(), tracker("còn đó không", "greet", sender=sender))
        assert kinds(events) == ["session_started", "pause", "action"], status


def test_closed_or_offline_handoffs_do_not_pause(db: Store):  # noqa: F811
    db.create_handoff("citizen-off", "rest", "citizen_request", {}, [], status="offline")
    _, events = run(ActionSessionStart(), tracker("alo", "greet", sender="citizen-off"))
    assert "pause" not in kinds(events)


def test_slots_are_carried_over_when_the_domain_says_so(db: Store):  # noqa: F811
    _, events = run(
        ActionSessionStart(),
        tracker("alo", "greet", slots={"last_topic": "vneid_activate"}),
        {"session_config": {"carry_over_slots_to_new_session": True}},
    )
    assert {"event": "slot", "name": "last_topic", "value": "vneid_activate"} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events
    ]


def test_an_unreadable_store_starts_the_session_unpaused(monkeypatch):
    monkeypatch.setenv("HANDOFF_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    _, events = run(ActionSessionStart(), tracker("alo", "greet"))
    assert kinds(events) == ["session_started", "action"]
