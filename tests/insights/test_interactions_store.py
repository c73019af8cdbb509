"""The interactions table of the handoff store, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest

from core.privacy import mask_interaction_text
from handoff.store import Store

RAW_ID, RAW_PHONE = "079123456789", "0912345678"
QUESTION = f"cccd {RAW_ID}, sđt {RAW_PHONE}, mật khẩu là abc123 mà không đăng nhập được"


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_question_is_stored_masked_and_the_sender_only_as_a_salted_hash(store: Store):
    store.record_interaction(
        "abstained",
        "zalo-user-0912345678",
        channel="zalo",
        question=QUESTION,
        reason="low_confidence",
        guesses=[{"id": "vneid_login_problems", "score": 0.4123456}],
        intent="ask_procedure",
    )
    [row] = store.interactions()
    assert RAW_ID not in row["question"] and RAW_PHONE not in row["question"] and "abc123" not in row["question"]
    assert row["question"] == "cccd *********789, sđt *******678, mật khẩu là [đã ẩn] mà không đăng nhập được"
    assert "0912345678" not in row["conversation"] and len(row["conversation"]) == 16
    assert row["conversation"] == store.conversation_key("zalo-user-0912345678")
    assert row["conversation"] != store.conversation_key("zalo-user-0912345679")
    assert (row["kind"], row["channel"], row["reason"], row["intent"]) == (
        "abstained",
        "zalo",
        "low_confidence",
        "ask_procedure",
    )
    assert row["guesses"] == [{"id": "vneid_login_problems", "score": 0.4123}]


def test_the_hash_is_salted_per_database(tmp_path):
    a, b = Store(f"sqlite:///{tmp_path / 'a.sqlite3'}"), Store(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    try:
        assert a.conversation_key("u1") != b.conversation_key("u1")
        assert a.conversation_key("u1") == Store(a.url).conversation_key("u1")  # stable for one database
    finally:
        a.close()
        b.close()


def test_day_is_the_local_date_and_the_period_filter_is_inclusive(store: Store):
    # 20:00 UTC on 27 November is 03:00 on 28 November in Hồ Chí Minh City (UTC+7).
    store.record_interaction("answered", "u1", guide_id="g1", now=ts("2026-11-27T20:00:00"))
    store.record_interaction("answered", "u1", guide_id="g1", now=ts("2026-11-27T10:00:00"))
    store.record_interaction("handoff", "u2", outcome="queued", now=ts("2026-11-29T10:00:00"))
    days = [r["day"] for r in store.interactions()]
    assert days == ["2026-11-27", "2026-11-28", "2026-11-29"]
    assert [r["day"] for r in store.interactions(since="2026-11-28")] == ["2026-11-28", "2026-11-29"]
    assert [r["day"] for r in store.interactions(until="2026-11-28")] == ["2026-11-27", "2026-11-28"]
    assert [r["day"] for r in store.interactions("2026-11-28", "2026-11-28")] == ["2026-11-28"]
    utc = store.record_interaction("answered", "u1", now=ts("2026-11-27T20:00:00"), tz="UTC")
    assert [r["day"] for r in store.interactions() if r["id"] == utc] == ["2026-11-27"]


def test_unknown_kind_is_refused(store: Store):
    with pytest.raises(ValueError):
        store.record_interaction("guessed", "u1", question="x")


def test_long_questions_are_cut_after_masking(store: Store):
    store.record_interaction("abstained", "u1", question="a" * 995 + " 0912345678 " + "b" * 50)
    [row] = store.interactions()
    assert len(row["question"]) == 1000 and "0912345" not in row["question"]


def test_an_existing_database_without_the_table_gets_it(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = Store(f"sqlite:///{path}")
    old.ping()
    old.close()
    with sqlite3.connect(path) as conn:  # a database made before the interactions table existed
        conn.execute("DROP TABLE interactions")
    store = Store(f"sqlite:///{path}")
    try:
        store.record_interaction("clarified", "u1", question="vneid")
        assert [r["kind"] for r in store.interactions()] == ["clarified"]
    finally:
        store.close()


def test_extra_masking_beyond_mask_pii():
    assert mask_interaction_text("cmnd 123456789 và mail an.nguyen@gmail.com") == "cmnd ******789 và mail [email]"
    assert mask_interaction_text("nộp ngày 28/11/2026 lúc 10 giờ") == "nộp ngày 28/11/2026 lúc 10 giờ"
