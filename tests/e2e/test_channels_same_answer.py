"""The same question on every channel gets the same answer, rendered for that channel.

REST, the web widget's channel, Zalo OA and Messenger all go through the real Rasa server and
action server; the Zalo and Messenger webhooks are signed as the platforms sign them, and what the
bot sends back lands on the local stand-in of their APIs (tests/e2e/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid

from conftest import CHANNEL_SECRETS, signed_messenger_event

from tests.handoff import harness

QUESTION = "quen mat khau vneid thi lam sao"
TITLE = "Quên mật khẩu đăng nhập VNeID"


def wait_for(predicate, timeout=90.0):
    return harness.wait_for(predicate, timeout, interval=0.5, what="the bot's reply")


def zalo_texts(api, user):
    texts = []
    for body in api.messages("/zalo"):
        if body.get("recipient", {}).get("user_id") == user:
            message = body.get("message", {})
            texts.append(message.get("text") or json.dumps(message.get("attachment", {}), ensure_ascii=False))
    return texts


def messenger_texts(api, psid):
    return [
        body["message"].get("text", "")
        for body in api.messages("/messenger")
        if body.get("recipient", {}).get("id") == psid and "message" in body
    ]


def test_same_question_same_answer_on_every_channel(client, platform_api):
    # REST
    rest = client.post("/webhooks/rest/webhook", json={"sender": f"r-{uuid.uuid4().hex[:8]}", "message": QUESTION})
    rest_text = " ".join(r.get("text", "") for r in rest.json())
    assert TITLE in rest_text and "1. " in rest_text

    # Zalo OA: signed like Zalo (mac = sha256(app_id + body + timestamp + OA secret key))
    user = f"z-{uuid.uuid4().hex[:8]}"
    event = {
        "app_id": CHANNEL_SECRETS["ZALO_APP_ID"],
        "event_name": "user_send_text",
        "timestamp": str(int(time.time() * 1000)),
        "sender": {"id": user},
        "recipient": {"id": "oa"},
        "message": {"text": QUESTION, "msg_id": uuid.uuid4().hex},
    }
    raw = json.dumps(event, ensure_ascii=False).encode()
    mac = hashlib.sha256(
        CHANNEL_SECRETS["ZALO_APP_ID"].encode()
        + raw
        + event["timestamp"].encode()
        + CHANNEL_SECRETS["ZALO_OA_SECRET_KEY"].encode()
    ).hexdigest()
    response = client.post(
        "/webhooks/zalo/webhook",
        content=raw,
        headers={"X-ZEvent-Signature": f"mac={mac}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    zalo = " ".join(wait_for(lambda: (t := zalo_texts(platform_api, user)) and any("giúp ích" in x for x in t) and t))
    assert TITLE in zalo and "1. " in zalo

    # Messenger: signed like Meta (X-Hub-Signature-256 = HMAC-SHA256 of the body with the app secret)
    psid = f"m-{uuid.uuid4().hex[:8]}"
    raw, headers = signed_messenger_event(psid, QUESTION)
    response = client.post("/webhooks/messenger/webhook", content=raw, headers=headers)
    assert response.status_code == 200, response.text
    messenger = " ".join(
        wait_for(lambda: (t := messenger_texts(platform_api, psid)) and any("giúp ích" in x for x in t) and t)
    )
    assert TITLE in messenger and "1. " in messenger
    quick = [
        b["message"].get("quick_replies")
        for b in platform_api.messages("/messenger")
        if b.get("recipient", {}).get("id") == psid and b.get("message", {}).get("quick_replies")
    ]
    assert quick, "the feedback buttons become Messenger quick replies"

    # A bad signature is refused on both (Zalo: 401; 400 before that for a body that is not a Zalo event)
    zalo_raw = json.dumps(event, ensure_ascii=False).encode()
    assert (
        client.post(
            "/webhooks/zalo/webhook",
            content=zalo_raw,
            headers={"X-ZEvent-Signature": "mac=00", "Content-Type": "application/json"},
        ).status_code
        == 401
    )
    bad_signature = {"X-Hub-Signature-256": "sha256=00", "Content-Type": "application/json"}
    assert client.post("/webhooks/messenger/webhook", content=raw, headers=bad_signature).status_code == 403
