"""Replies to Messenger through the real Rasa server and its durable outbox (bot/channels/outbox.py):
a Send API answering 503 twice still gets the reply once; a refused reply (4xx) is not retried and
lands in the handoff database, where the agent console lists it."""

from __future__ import annotations

import os
import time
import uuid

from conftest import signed_messenger_event

from handoff.store import Store
from tests.handoff import harness


def send_messenger(client, psid: str, text: str) -> None:
    raw, headers = signed_messenger_event(psid, text, int(time.time() * 1000))
    response = client.post("/webhooks/messenger/webhook", content=raw, headers=headers)
    assert response.status_code == 200, response.text


def attempts_for(platform_api, psid: str) -> list[tuple[int, str]]:
    return [
        (status, body.get("message", {}).get("text", "")) for who, status, body in platform_api.attempts if who == psid
    ]


def test_a_send_api_down_twice_still_gets_the_reply_once(client, platform_api):
    psid = f"m-{uuid.uuid4().hex[:8]}"
    platform_api.refuse(psid, [503, 503])
    send_messenger(client, psid, "xin chào")
    got = harness.wait_for(
        lambda: [a for a in attempts_for(platform_api, psid) if a[0] == 200], 60, 0.2, "the retried reply"
    )
    time.sleep(3)  # the worker's next rounds send nothing more
    attempts = attempts_for(platform_api, psid)
    first_text = attempts[0][1]
    assert [s for s, t in attempts if t == first_text] == [503, 503, 200]
    assert len([a for a in attempts if a[0] == 200 and a[1] == first_text]) == 1 and got


def test_a_refused_reply_is_kept_for_the_console(client, platform_api):
    psid = f"m-{uuid.uuid4().hex[:8]}"
    platform_api.refuse(psid, [400] * 20)
    send_messenger(client, psid, "xin chào")
    store = Store(os.environ["HANDOFF_DATABASE_URL"])  # what the console reads
    try:
        failed = harness.wait_for(
            lambda: [r for r in store.deliveries("failed") if r["recipient"] == f"messenger:{psid}"],
            60,
            0.2,
            "the refused reply in the store",
        )
    finally:
        store.close()
    assert failed[0]["last_status"] == 400 and "551" in failed[0]["last_error"]
    assert all(status == 400 for status, _ in attempts_for(platform_api, psid))  # 4xx: never retried
