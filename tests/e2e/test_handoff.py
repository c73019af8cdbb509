"""Handoff end to end: the real Rasa server and action server, python -m handoff.server, and the agent
API. REST and web chat citizens ask for a person, an agent claims and replies, the bot stays quiet
while paused, a hand-back resumes it, and a crash of the handoff server loses nothing."""

from __future__ import annotations

import json
import os
import sqlite3
import uuid

import httpx
import pytest

from actions.replies import OFFER_QUESTION
from handoff.messages import CLAIMED_TEXT, RETURNED_TEXT
from core.privacy import mask_pii
from core.decision import payloads
from handoff.store import Store

pytest.register_assert_rewrite("tests.e2e.conftest_handoff")  # before the import below
from tests.e2e.conftest_handoff import DATABASE_URL, PASSWORD, WebChatCitizen, find_handoff, of_type

pytest_plugins = ["tests.e2e.conftest_handoff"]

WEBHOOK = "/webhooks/rest/webhook"


def rest_say(bot, sender: str, text: str) -> list[dict]:
    response = httpx.post(bot.rasa_url + WEBHOOK, json={"sender": sender, "message": text}, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def texts(replies: list[dict]) -> str:
    return " ".join(r.get("text") or "" for r in replies)


def dvc(replies: list[dict]) -> dict:
    return payloads(replies)[0].to_dict()


def rest_inbox(bot, sender: str, after: int = 0, wait: float = 10.0) -> list[dict]:
    """What the REST channel's outbox has for ``sender`` (bot/channels/rest.py GET /messages)."""
    response = httpx.get(
        bot.rasa_url + "/webhooks/rest/messages", params={"sender": sender, "after": after, "wait": wait}, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()["messages"]


def queued_rest_citizen(bot, alice, text: str = "cho tôi gặp nhân viên tổng đài") -> tuple[str, dict]:
    sender = f"rest-{uuid.uuid4().hex}"
    replies = rest_say(bot, sender, text)
    meta = dvc(replies)
    assert meta["decision"] == "handoff" and meta["handoff"] == "queued", replies
    assert any("hàng chờ" in r.get("text", "") or "người tiếp theo" in r.get("text", "") for r in replies)
    return sender, find_handoff(alice, handoff_id=meta["handoff_id"])


def test_rest_citizen_is_queued_bot_goes_quiet_and_hand_back_resumes_it(bot, alice):
    sender, item = queued_rest_citizen(bot, alice)
    assert item["channel"] == "rest" and item["status"] == "queued" and item["delivery"] == "pushed"
    assert alice.post(f"/api/conversations/{item['id']}/claim").status_code == 200

    # paused: the bot says nothing of its own; the citizen's next request carries the claim notice
    during = rest_say(bot, sender, "số của tôi là 0912345678, mình cần hỏi hồ sơ")
    assert [r.get("text") for r in during] == [CLAIMED_TEXT], during
    view = alice.get(f"/api/conversations/{item['id']}").json()
    assert view["conversation"]["paused"] is True
    assert any("*******678, mình cần hỏi hồ sơ" in m["text"] for m in view["messages"] if m["role"] == "user")

    # the agent's reply reaches the REST citizen: by polling, and not again in the next response
    reply = alice.post(f"/api/conversations/{item['id']}/reply", json={"text": "Chào bạn, tôi xem giúp nhé."})
    assert reply.status_code == 200 and reply.json()["delivery"] == "pushed"
    inbox = rest_inbox(bot, sender, after=during[-1]["id"])
    assert [(m["text"], m["custom"]) for m in inbox] == [("Chào bạn, tôi xem giúp nhé.", {"human_agent": True})]
    assert rest_say(bot, sender, "vâng") == []

    # a second reply the citizen did not poll for arrives at the start of their next response
    alice.post(f"/api/conversations/{item['id']}/reply", json={"text": "Bạn chờ tôi một chút."})
    assert [r["text"] for r in rest_say(bot, sender, "ok")] == ["Bạn chờ tôi một chút."]

    assert alice.post(f"/api/conversations/{item['id']}/hand-back").status_code == 200
    replies = rest_say(bot, sender, "quen mat khau vneid thi lam sao")
    assert replies[0]["text"] == RETURNED_TEXT and dvc(replies)["decision"] == "answer", replies


def test_every_process_crashing_mid_handoff_loses_nothing(bot, handoff_server, alice):
    """Rasa, the action server and the console killed (SIGKILL) while an agent holds the conversation:
    the SQL tracker store keeps it paused, the outbox keeps what was not yet delivered, the handoff
    store keeps the record and the agent's session, and hand-back still resumes the bot."""
    sender, item = queued_rest_citizen(bot, alice)
    assert alice.post(f"/api/conversations/{item['id']}/claim").status_code == 200
    assert alice.post(f"/api/conversations/{item['id']}/reply", json={"text": "Tôi đang kiểm tra."}).status_code == 200

    handoff_server.kill()
    bot.kill("rasa")
    bot.kill("actions")
    bot.start_actions()
    bot.start_rasa()
    handoff_server.start()

    during = rest_say(bot, sender, "tôi vẫn đang chờ ạ")  # undelivered pushes first, no bot reply
    assert [r["text"] for r in during] == [CLAIMED_TEXT, "Tôi đang kiểm tra."], during
    view = alice.get(f"/api/conversations/{item['id']}").json()
    assert view["conversation"]["paused"] is True and view["conversation"]["status"] == "claimed"
    user_texts = [m["text"] for m in view["messages"] if m["role"] == "user"]
    assert user_texts[0] == "cho tôi gặp nhân viên tổng đài" and user_texts[-1] == "tôi vẫn đang chờ ạ"
    assert alice.post(f"/api/conversations/{item['id']}/reply", json={"text": "Xong rồi."}).status_code == 200
    assert [m["text"] for m in rest_inbox(bot, sender, after=during[-1]["id"])] == ["Xong rồi."]
    assert alice.post(f"/api/conversations/{item['id']}/close").status_code == 200
    replies = rest_say(bot, sender, "quen mat khau vneid thi lam sao")
    assert dvc(replies)["decision"] == "answer", replies


def tracker_of(bot, sender: str) -> httpx.Response:
    """Rasa's tracker of ``sender`` through its HTTP API (which needs the token)."""
    return httpx.get(f"{bot.rasa_url}/conversations/{sender}/tracker", params={"token": bot.rasa_token}, timeout=30)


def age_conversation(sender: str, seconds: float) -> None:
    """Move every event of ``sender`` back in time in Rasa's SQL tracker store (the test's SQLite
    file): Rasa reads the events from this table on each message, ordered by time."""
    with sqlite3.connect(os.environ["RASA_TRACKER_DB"]) as db:
        rows = db.execute("SELECT id, data FROM events WHERE sender_id = ?", (sender,)).fetchall()
        for row_id, data in rows:
            event = json.loads(data)
            event["timestamp"] -= seconds
            db.execute(
                "UPDATE events SET timestamp = ?, data = ? WHERE id = ?",
                (event["timestamp"], json.dumps(event), row_id),
            )


def test_a_session_that_expires_during_a_handoff_stays_paused(bot, alice):
    sender, item = queued_rest_citizen(bot, alice)
    # two hours later (session_expiration_time is 60 min) the citizen writes again: a new session starts
    age_conversation(sender, 7200)
    assert rest_say(bot, sender, "alo, còn ai ở đó không") == []
    tracker = tracker_of(bot, sender).json()
    assert tracker["paused"] is True
    assert [e["event"] for e in tracker["events"]].count("session_started") == 2
    assert alice.post(f"/api/conversations/{item['id']}/claim").status_code == 200
    assert alice.post(f"/api/conversations/{item['id']}/hand-back").status_code == 200
    assert dvc(rest_say(bot, sender, "quen mat khau vneid thi lam sao"))["decision"] == "answer"


def test_webchat_citizen_gets_the_agents_reply_in_their_own_channel(bot, webchat_enabled, alice, bob):
    citizen = WebChatCitizen(bot.rasa_url)
    try:
        citizen.send("cho tôi gặp nhân viên")
        told = citizen.wait_for(
            lambda ev: any(
                "hàng chờ" in e.get("text", "") or "người tiếp theo" in e.get("text", "") for e in of_type(ev, "bot")
            )
        )
        assert "đừng gửi mật khẩu" in " ".join(e.get("text", "") for e in told).lower()

        item = find_handoff(alice, masked_sender=mask_pii(citizen.sender))
        assert item["channel"] == "webchat" and item["delivery"] == "pushed"
        assert alice.post(f"/api/conversations/{item['id']}/claim").status_code == 200
        assert bob.post(f"/api/conversations/{item['id']}/claim").status_code == 409
        assert bob.post(f"/api/conversations/{item['id']}/reply", json={"text": "chen ngang"}).status_code == 403
        citizen.wait_for(lambda ev: any(e.get("text") == CLAIMED_TEXT for e in of_type(ev, "bot")), timeout=30)

        # while paused the bot stays quiet, and what the citizen writes reaches the agent, masked and redacted
        citizen.send("cccd của tôi 079123456789, mật khẩu là abc123, OTP 482913")
        quiet = citizen.settle()
        assert of_type(quiet, "bot") == [] and of_type(quiet, "agent") == []
        # the secrets never reached Rasa's tracker store nor the web chat history
        history = citizen.http.get("/poll", params={"sender": citizen.sender, "after": 0}).json()["events"]
        assert any("[đã ẩn]" in e.get("text", "") for e in of_type(history, "user"))
        tracker = tracker_of(bot, citizen.sender).text
        for secret in ("abc123", "482913"):
            assert secret not in str(history) and secret not in tracker
        view = alice.get(f"/api/conversations/{item['id']}").json()
        text = view["messages"][-1]["text"]
        assert view["messages"][-1]["role"] == "user"
        assert "*********789" in text and "079123456789" not in text
        assert "abc123" not in text and "482913" not in text
        stored = " ".join(m["text"] for m in Store(DATABASE_URL).messages(item["id"]))
        assert "abc123" not in stored and "482913" not in stored

        response = alice.post(
            f"/api/conversations/{item['id']}/reply",
            json={"text": "Chào bạn, tôi là tổng đài viên Alice. Bạn cần hỗ trợ gì?"},
        )
        assert response.status_code == 200 and response.json()["delivery"] == "pushed"
        got = citizen.wait_for(lambda ev: of_type(ev, "agent"), timeout=30)
        got += citizen.settle(quiet=2)
        agent = of_type(got, "agent")
        assert [e["text"] for e in agent] == ["Chào bạn, tôi là tổng đài viên Alice. Bạn cần hỗ trợ gì?"]  # once
        assert agent[0].get("label") == "Tổng đài viên" and of_type(got, "bot") == []

        assert alice.post(f"/api/conversations/{item['id']}/hand-back").status_code == 200
        back = citizen.wait_for(lambda ev: any(e.get("text") == RETURNED_TEXT for e in ev), timeout=30)
        assert of_type(back, "bot")
        citizen.send("quen mat khau vneid thi lam sao")
        answer = citizen.wait_for(lambda ev: any("mật khẩu" in e.get("text", "").lower() for e in of_type(ev, "bot")))
        assert answer
        assert Store(DATABASE_URL).get_handoff(item["id"])["status"] == "returned"
    finally:
        citizen.close()


def test_handoff_server_crash_mid_conversation_loses_nothing(bot, webchat_enabled, handoff_server, alice):
    citizen = WebChatCitizen(bot.rasa_url)
    try:
        citizen.send("tôi muốn nói chuyện với người thật")
        citizen.wait_for(
            lambda ev: any(
                "hàng chờ" in e.get("text", "") or "người tiếp theo" in e.get("text", "") for e in of_type(ev, "bot")
            )
        )
        item = find_handoff(alice, masked_sender=mask_pii(citizen.sender))
        alice.post(f"/api/conversations/{item['id']}/claim")
        alice.post(f"/api/conversations/{item['id']}/reply", json={"text": "Tôi đang xem hồ sơ của bạn."})
        citizen.wait_for(lambda ev: of_type(ev, "agent"), timeout=30)
        before = alice.get(f"/api/conversations/{item['id']}").json()["messages"]

        handoff_server.kill()
        citizen.send("cảm ơn, tôi chờ")  # written while the console is down: Rasa keeps it
        assert of_type(citizen.settle(quiet=2), "bot") == []
        handoff_server.start()

        view = alice.get(f"/api/conversations/{item['id']}").json()  # same session token
        assert view["messages"][: len(before)] == before
        assert view["messages"][-1]["text"] == "cảm ơn, tôi chờ"
        assert view["conversation"]["status"] == "claimed" and view["conversation"]["mine"]
        assert alice.post(f"/api/conversations/{item['id']}/reply", json={"text": "Xong rồi nhé."}).status_code == 200
        assert [
            e["text"] for e in citizen.wait_for(lambda ev: of_type(ev, "agent"), timeout=30) if e.get("type") == "agent"
        ] == ["Xong rồi nhé."]
        assert alice.post(f"/api/conversations/{item['id']}/close").status_code == 200
        citizen.wait_for(lambda ev: of_type(ev, "bot"), timeout=30)
    finally:
        citizen.close()


def test_no_agent_online_gives_the_hotline_and_takes_a_call_back(bot, handoff_server):
    with httpx.Client(base_url=handoff_server.url) as http:  # nobody online: log both agents out
        for name in ("alice", "bob"):
            token = http.post("/api/login", json={"username": name, "password": PASSWORD}).json()["token"]
            http.post("/api/logout", headers={"Authorization": f"Bearer {token}"})
    sender = f"rest-{uuid.uuid4().hex[:12]}"
    replies = rest_say(bot, sender, "cho tôi gặp nhân viên")
    assert dvc(replies) == {"decision": "handoff", "guide_ids": [], "reason": "citizen_request"}
    assert any("1022" in r.get("text", "") or "số" in r.get("text", "") for r in replies)
    assert rest_say(bot, sender, "có")[0]["text"].startswith("Bạn cho tôi xin họ và tên")
    assert "Số điện thoại" in rest_say(bot, sender, "Nguyễn Văn An")[0]["text"]
    assert "đồng ý" in rest_say(bot, sender, "0912 345 678")[0]["text"]
    done = rest_say(bot, sender, "đồng ý")
    assert "*******678" in done[0]["text"], done
    store = Store(DATABASE_URL)
    [callback] = [c for c in store.list_callbacks() if c["sender_id"] == sender]
    assert (callback["name"], callback["phone"], callback["channel"]) == ("Nguyễn Văn An", "0912345678", "rest")
    assert store.latest_handoff(sender)["status"] == "offline"


# The two tests below need actions/answer.py wired to handoff.triggers / core.safety
# (docs/handoff.md "When the bot hands off"): action_offer_handoff runs as its follow-up action.


def test_two_abstentions_in_a_row_offer_a_person_and_accepting_queues(bot, alice):
    sender = f"rest-{uuid.uuid4().hex[:12]}"
    first = rest_say(bot, sender, "chuyển quyền sử dụng đất cho con trai thì làm giấy tờ gì")
    assert dvc(first)["decision"] == "abstain" and OFFER_QUESTION not in texts(first)
    second = rest_say(bot, sender, "thủ tục đăng ký kết hôn cần giấy tờ gì")
    assert OFFER_QUESTION in texts(second), second
    offer = payloads(second)[-1].to_dict()
    assert offer == {"decision": "offer_handoff", "guide_ids": [], "reason": "repeated_abstain"}
    accepted = rest_say(bot, sender, "có")
    meta = dvc(accepted)
    assert meta["decision"] == "handoff" and meta["handoff"] == "queued" and meta["reason"] == "repeated_abstain"
    item = find_handoff(alice, handoff_id=meta["handoff_id"])
    assert item["reason"] == "repeated_abstain"
    assert alice.post(f"/api/conversations/{item['id']}/claim").status_code == 200
    assert alice.post(f"/api/conversations/{item['id']}/close").status_code == 200


def test_a_policy_question_is_confirmed_and_declining_lets_the_citizen_go_on(bot):
    sender = f"rest-{uuid.uuid4().hex[:12]}"
    offer = rest_say(bot, sender, "Tôi muốn khiếu nại cán bộ tiếp nhận hồ sơ")
    assert OFFER_QUESTION in texts(offer), offer
    assert payloads(offer)[-1].get("reason") == "policy:handoff_complaint"
    declined = rest_say(bot, sender, "không")
    assert texts(declined).startswith("Vâng ạ. Bạn cứ hỏi tiếp"), declined
    assert dvc(rest_say(bot, sender, "quen mat khau vneid thi lam sao"))["decision"] == "answer"


def test_urgent_words_get_113_114_115_first(bot):
    # on the answer path: a question that mentions an accident (the NLU still calls it ask_procedure)
    question = "tôi bị tai nạn giao thông mất căn cước thì làm lại thế nào"
    replies = rest_say(bot, f"rest-{uuid.uuid4().hex[:12]}", question)
    assert replies[0]["text"].startswith("⚠️") and "114 (Cứu hỏa, cứu nạn)" in replies[0]["text"], replies


@pytest.mark.parametrize("message", ["nhà hàng xóm đang cháy", "cứu với, có người bị đánh"])
def test_urgent_words_get_113_114_115_whatever_the_nlu_thought(bot, message):
    # the classifier alone files these under other intents (bot_challenge, goodbye…): the
    # UrgentIntentOverride component (config.yml) sends them to the answer action
    replies = rest_say(bot, f"rest-{uuid.uuid4().hex[:12]}", message)
    assert replies[0]["text"].startswith("⚠️") and "113" in replies[0]["text"], replies


def test_not_helpful_then_asking_again_offers_a_person(bot):
    sender = f"rest-{uuid.uuid4().hex[:12]}"
    answer = rest_say(bot, sender, "quen mat khau vneid thi lam sao")
    assert dvc(answer)["decision"] == "answer"
    [no] = [b["payload"] for r in answer for b in r.get("buttons") or [] if "feedback_not_helpful" in b["payload"]]
    rest_say(bot, sender, no)
    again = rest_say(bot, sender, "quên mật khẩu vneid lấy lại thế nào")
    assert OFFER_QUESTION in texts(again) and "vừa rồi chưa giúp được bạn" in texts(again), again
    assert payloads(again)[-1].get("reason") == "not_helpful"


def test_a_password_typed_to_the_bot_is_hidden_and_the_citizen_warned(bot):
    sender = f"rest-{uuid.uuid4().hex[:12]}"
    replies = rest_say(bot, sender, "mật khẩu của tôi là Abc@12345 mà không đăng nhập được vneid")
    assert replies[0]["text"].startswith("🔒"), replies
    tracker = json.dumps(tracker_of(bot, sender).json(), ensure_ascii=False)
    assert "Abc@12345" not in tracker and "[đã ẩn]" in tracker
