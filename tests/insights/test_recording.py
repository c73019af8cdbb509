"""insights/recording.py: what a decision payload becomes, the switch, and that failures stay silent."""

from __future__ import annotations

import logging
import time

import pytest

from handoff.store import Store
from insights import recording

ANSWER = {
    "decision": "answer",
    "guide_ids": ["vneid_forgot_password"],
    "section": 0,
    "ranking": [
        {"id": "vneid_forgot_password", "score": 0.81, "lexical": 0.7, "dense": 0.9},
        {"id": "vneid_passcode", "score": 0.52},
        {"id": "vneid_activate", "score": 0.4},
        {"id": "dvc_passport", "score": 0.1},
    ],
}


@pytest.mark.parametrize(
    "meta, expected",
    [
        (ANSWER, ("answered", None, None)),
        ({"decision": "clarify", "guide_ids": ["a", "b"]}, ("clarified", None, None)),
        ({"decision": "abstain", "reason": "out_of_scope"}, ("out_of_scope", None, "out_of_scope")),
        ({"decision": "abstain", "reason": "low_confidence"}, ("abstained", None, "low_confidence")),
        ({"decision": "abstain", "reason": "search_unavailable"}, ("abstained", None, "search_unavailable")),
        ({"decision": "offer_handoff", "reason": "repeated_abstain"}, ("offered_handoff", None, "repeated_abstain")),
        (
            {"decision": "handoff", "reason": "citizen_request", "handoff": "queued"},
            ("handoff", "queued", "citizen_request"),
        ),
        ({"decision": "feedback", "helpful": True}, ("feedback", "helpful", None)),
        ({"decision": "feedback", "helpful": False}, ("feedback", "not_helpful", None)),
        ({"human_agent": True}, None),
    ],
)
def test_classify(meta, expected):
    assert recording.classify(meta) == expected


def test_a_decision_is_written_in_the_background(db_url):
    assert recording.record_decision(
        ANSWER, sender_id="u1", channel="rest", question="quen mat khau vneid", intent="ask_procedure"
    )
    assert recording.flush(10)
    [row] = Store(db_url).interactions()
    assert (row["kind"], row["guide_id"], row["channel"], row["question"]) == (
        "answered",
        "vneid_forgot_password",
        "rest",
        "quen mat khau vneid",
    )
    assert [g["id"] for g in row["guesses"]] == ["vneid_forgot_password", "vneid_passcode", "vneid_activate"]


def test_explicit_outcome_and_guesses_are_used_when_the_payload_has_none(db_url):
    recording.record_decision(
        {"decision": "handoff", "reason": "repeated_abstain"},
        sender_id="u1",
        channel="zalo",
        question="sổ đỏ",
        outcome="offline:closed_hours",
        guesses=[{"id": "uncovered_land", "score": 0.6}],
    )
    recording.flush(10)
    [row] = Store(db_url).interactions()
    assert (row["kind"], row["outcome"], row["reason"]) == ("handoff", "offline:closed_hours", "repeated_abstain")
    assert row["guesses"] == [{"id": "uncovered_land", "score": 0.6}]


@pytest.mark.parametrize("value", ["0", "false", "off", "no"])
def test_switched_off_records_nothing(db_url, monkeypatch, value):
    monkeypatch.setenv(recording.ENV_SWITCH, value)
    assert not recording.record_decision(ANSWER, sender_id="u1", channel="rest", question="x")
    recording.flush(10)
    assert Store(db_url).interactions() == []


def test_an_unreachable_database_never_raises_nor_blocks(monkeypatch, caplog):
    # Port 1 on loopback refuses at once; the write fails in the background thread, logged.
    monkeypatch.setenv("HANDOFF_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="insights.recording"):
        assert recording.record_decision(ANSWER, sender_id="u1", channel="rest", question="x")
        assert time.perf_counter() - started < 0.05
        assert recording.flush(20)
    assert "could not record a answered interaction" in caplog.text


def test_a_broken_configuration_is_logged_not_raised(monkeypatch, caplog):
    monkeypatch.setattr(recording, "_database_url", lambda: 1 / 0)
    with caplog.at_level(logging.ERROR, logger="insights.recording"):
        assert recording.record_decision(ANSWER, sender_id="u1", channel="rest", question="x") is False
    assert "could not queue" in caplog.text


def test_a_full_queue_drops_rows_instead_of_waiting(monkeypatch):
    writer = recording._Writer(size=1)
    release = []
    monkeypatch.setattr(writer, "_run", lambda: release.append(1))  # a writer that never drains
    writer.put("sqlite:///unused", {"kind": "answered"})
    started = time.perf_counter()
    for _ in range(5):
        writer.put("sqlite:///unused", {"kind": "answered"})
    assert time.perf_counter() - started < 0.05
    assert writer.dropped == 5
