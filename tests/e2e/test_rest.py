"""End to end through the REST webhook: Rasa NLU, the action server and the search together."""

from __future__ import annotations

import uuid

from core.decision import payloads

WEBHOOK = "/webhooks/rest/webhook"


def say(client, text, sender=None):
    sender = sender or f"t-{uuid.uuid4().hex[:10]}"
    response = client.post(WEBHOOK, json={"sender": sender, "message": text})
    assert response.status_code == 200, response.text
    return response.json()


def decision(replies):
    found = payloads(replies)
    return found[0].to_dict() if found else None


def texts(replies):
    return " ".join(r.get("text", "") for r in replies)


def test_greeting_is_answered_in_vietnamese(client):
    replies = say(client, "chào bạn")
    assert "VNeID" in texts(replies)
    assert decision(replies) is None  # a greeting is not answered from a guide


def test_unaccented_forgot_password_gets_the_right_guide(client):
    replies = say(client, "quen mat khau vneid thi lam sao")
    meta = decision(replies)
    assert meta["decision"] == "answer", meta
    assert meta["guide_ids"] == ["vneid_forgot_password"]
    assert "mật khẩu" in texts(replies).lower()
    assert "1. " in texts(replies)  # a "how do I" question gets the numbered steps
    assert any(b["payload"].startswith("/feedback_helpful") for r in replies for b in r.get("buttons", []))


def test_request_for_a_person_hands_off(client):
    meta = decision(say(client, "cho tôi gặp nhân viên tổng đài"))
    assert meta["decision"] == "handoff"


def test_off_topic_is_not_answered_from_a_guide(client):
    meta = decision(say(client, "cuối tuần này đi Vũng Tàu ăn hải sản chỗ nào ngon"))
    assert meta is None or meta["decision"] != "answer"


def test_uncovered_procedure_abstains_and_offers_a_person(client):
    replies = say(client, "chuyển quyền sử dụng đất cho con trai thì làm giấy tờ gì")
    meta = decision(replies)
    assert meta is not None and meta["decision"] == "abstain", meta
    assert any(b["payload"] == "/request_human" for r in replies for b in r.get("buttons", []))


def test_follow_up_uses_the_previous_topic(client):
    sender = f"t-{uuid.uuid4().hex[:10]}"
    first = decision(say(client, "đổi sang điện thoại mới thì đăng nhập VNeID thế nào", sender))
    assert first["guide_ids"] == ["vneid_change_device"], first
    second = decision(say(client, "còn nếu máy không có NFC thì sao?", sender))
    assert second["decision"] == "answer" and second["guide_ids"] == ["vneid_change_device"], second


def test_bad_input_never_breaks_the_server(client):
    assert client.post(WEBHOOK, content=b"{not json", headers={"Content-Type": "application/json"}).status_code in (
        400,
        422,
    )
    assert client.post(WEBHOOK, json={"message": "thiếu sender"}).status_code in (200, 400, 422)
    for message in ("", "a" * 10_000, "\x00\x01\x02 \ufffd\ufffd 😀" * 50):
        response = client.post(WEBHOOK, json={"sender": f"t-{uuid.uuid4().hex[:8]}", "message": message})
        assert response.status_code in (200, 400, 413, 422)
    junk = client.post(WEBHOOK, content=bytes(range(256)) * 4, headers={"Content-Type": "application/json"})
    assert junk.status_code in (400, 422)
    # and the bot still answers afterwards
    assert "VNeID" in texts(say(client, "xin chào"))
