"""The insights loop end to end: citizens' messages through the real REST webhook are recorded by the
real action server, and ``python -m insights.report`` counts exactly what the bot said it decided,
with no phone or ID number anywhere in its output (or in the database file).

The action server records into the temporary SQLite database of tests/e2e/conftest_handoff.py
(HANDOFF_DATABASE_URL is set there at collection, before the session's servers start). Other e2e
tests of the same session record into it too: this test's rows are told apart by their
conversation key (the salted hash of its sender ids), and the report is checked against the whole
database as it was when the report ran.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from handoff.store import Store
from core.decision import payloads
from insights.recording import classify

pytest.register_assert_rewrite("tests.e2e.conftest_handoff")  # before the import below
from tests.e2e.conftest_handoff import DATABASE_URL

pytest_plugins = ["tests.e2e.conftest_handoff"]

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK = "/webhooks/rest/webhook"
PHONE, ID_NUMBER, SECRET = "0912345678", "079123456789", "Abc123xyz"
COUNTED = (
    "answered",
    "clarified",
    "abstained",
    "out_of_scope",
    "offered_handoff",
    "handoff",
    "feedback_helpful",
    "feedback_not_helpful",
)


def say(bot, sender: str, text: str) -> list[dict]:
    response = httpx.post(bot.rasa_url + WEBHOOK, json={"sender": sender, "message": text}, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def decisions(replies: list[dict]) -> list[dict]:
    return [p.to_dict() for p in payloads(replies)]


def kind_of(meta: dict) -> str | None:
    classified = classify(meta)
    if classified is None:
        return None
    kind, outcome, _ = classified
    return f"feedback_{outcome}" if kind == "feedback" else kind


def recorded_counts(senders: set[str] | None = None) -> Counter:
    """Rows per kind in the database; only those of ``senders`` when given."""
    store = Store(DATABASE_URL)
    try:
        rows = store.interactions()
        if senders is not None:
            keys = {store.conversation_key(s) for s in senders}
            rows = [r for r in rows if r["conversation"] in keys]
    finally:
        store.close()
    return Counter(f"feedback_{r['outcome']}" if r["kind"] == "feedback" else r["kind"] for r in rows)


# A simulated session, written for this test (CI has no ../shared): questions the guides cover,
# and ones the bot must not answer from a guide (chit-chat, off-topic, procedures with no guide).
ANSWERABLE = [
    "quên mật khẩu VNeID thì lấy lại thế nào",
    "kich hoat tai khoan dinh danh dien tu muc 2 o dau",
    "đổi điện thoại mới thì đăng nhập VNeID ra sao",
    "tra cứu phạt nguội xe máy trên dịch vụ công",
    "làm hộ chiếu online cần những gì",
    "cách tích hợp giấy phép lái xe vào VNeID",
    "không nhận được mã OTP khi đăng ký VNeID",
    "đăng ký tạm trú trực tuyến thế nào",
    "nộp hồ sơ trên cổng dịch vụ công quốc gia các bước ra sao",
    "quen passcode vneid phai lam sao",
    "cấp lại căn cước bị mất làm online được không",
    "lý lịch tư pháp làm trên vneid thế nào",
]
NULL = [
    "hôm nay trời có mưa không",
    "bạn thích ăn phở hay bún bò",
    "kể chuyện cười đi",
    "giá vàng hôm nay bao nhiêu",
    "thủ tục ly hôn thuận tình nộp ở đâu",
    "sang tên xe máy cũ làm thế nào",
    "xin giấy phép xây dựng nhà ở",
    "đăng ký học lớp 1 cho con online",
    "xin visa cho bạn người nước ngoài",
    "asdf qwer zxcv",
]


def session_lines() -> tuple[list[str], list[str]]:
    return ANSWERABLE, NULL


def read_csv(path: Path) -> list[dict]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def test_report_counts_what_the_bot_decided_and_leaks_no_number(bot, tmp_path):
    expected: Counter = Counter()
    senders: set[str] = set()

    def turn(sender: str, text: str) -> list[dict]:
        senders.add(sender)
        replies = say(bot, sender, text)
        for meta in decisions(replies):
            kind = kind_of(meta)
            if kind:
                expected[kind] += 1
        return replies

    answerable, null = session_lines()
    for text in answerable + null:
        turn(f"ins-{uuid.uuid4().hex[:12]}", text)
    # Personal data in questions (the channel already hides the password; the store masks the numbers).
    for text in (
        f"số điện thoại {PHONE} của tôi không nhận được mã OTP VNeID",
        f"số định danh {ID_NUMBER} của tôi bị sai ngày sinh trên VNeID",
        f"mật khẩu là {SECRET} mà đăng nhập VNeID vẫn báo sai, sđt {PHONE}",
    ):
        turn(f"ins-{uuid.uuid4().hex[:12]}", text)
    # An answer, then "not helpful" on it; and one "helpful".
    for intent in ("feedback_not_helpful", "feedback_helpful"):
        sender = f"ins-{uuid.uuid4().hex[:12]}"
        replies = turn(sender, "quen mat khau vneid thi lam sao")
        guide = decisions(replies)[0]["guide_ids"][0]
        turn(sender, f'/{intent}{{"topic_id": "{guide}"}}')
    # Two abstentions in a row: the bot offers a person; the citizen accepts; and one asks outright.
    sender = f"ins-{uuid.uuid4().hex[:12]}"
    turn(sender, "thủ tục sang tên sổ đỏ cho con trai làm thế nào")
    offer = turn(sender, f"còn đất nông nghiệp thì sao, gọi tôi số {PHONE}")
    if any(m.get("decision") == "offer_handoff" for m in decisions(offer)):
        turn(sender, "có")
    turn(f"ins-{uuid.uuid4().hex[:12]}", "cho tôi gặp nhân viên tổng đài")

    assert expected["answered"] >= 5 and expected["abstained"] + expected["out_of_scope"] >= 3, expected
    assert expected["handoff"] >= 1 and expected["feedback_not_helpful"] == 1 and expected["feedback_helpful"] == 1
    assert sum(expected.values()) >= 30, expected

    # The action server writes in the background: wait until every decision is in the database.
    deadline = time.time() + 30
    while recorded_counts(senders) != expected and time.time() < deadline:
        time.sleep(0.5)
    assert recorded_counts(senders) == expected  # exactly one row per decision the replies carried

    out = tmp_path / "report"
    started = time.perf_counter()
    wanted = recorded_counts()  # the whole database (other tests' conversations too)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "insights.report",
            "--database-url",
            DATABASE_URL,
            "--out",
            str(out),
            "--since",
            "2000-01-01",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert recorded_counts() == wanted, "something else recorded while the report ran"
    print(f"report on {sum(wanted.values())} records in {elapsed:.1f} s:\n{result.stdout}")

    daily = read_csv(out / "daily.csv")
    totals = {kind: sum(int(row[kind]) for row in daily) for kind in COUNTED}
    assert totals == {kind: wanted.get(kind, 0) for kind in COUNTED}
    assert sum(int(row["total"]) for row in daily) == sum(wanted.values())

    groups = read_csv(out / "groups.csv")
    assert groups and all(int(g["count"]) >= 1 for g in groups)
    assert any(g["closest_guide"] for g in groups)  # the published index was searched
    feedback = {row["guide_id"]: row for row in read_csv(out / "feedback.csv")}
    assert sum(int(r["not_helpful"]) for r in feedback.values()) == wanted["feedback_not_helpful"]

    everything = (
        result.stdout + result.stderr + "".join(p.read_text(encoding="utf-8-sig") for p in sorted(out.iterdir()))
    )
    database = b"".join(p.read_bytes() for p in Path(DATABASE_URL[len("sqlite:///") :]).parent.glob("*.sqlite3*"))
    store = Store(DATABASE_URL)
    try:
        interactions = json.dumps(store.interactions(), ensure_ascii=False)
    finally:
        store.close()
    for raw in (PHONE, ID_NUMBER, SECRET):
        assert raw not in everything
        assert raw not in interactions
    assert "*******678" in everything and "*********789" in everything
    # The handoff tables keep the numbers for the agent (docs/handoff.md); the interactions never do.
    assert SECRET.encode() not in database
