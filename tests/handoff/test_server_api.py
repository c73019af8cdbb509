"""The agent API as a real process (python -m handoff.server) against a fake Rasa, on both backends."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from handoff import messages as hm
from handoff import openapi
from handoff.passwords import hash_password
from handoff.server import QUEUE_NOTICE_MAX
from core.privacy import mask_pii
from handoff.store import Store
from tests.handoff.conftest import PostgresSchema
from tests.handoff.harness import FakeRasa, HandoffServer, wait_for

PASSWORD = "mat-khau-rat-dai-1"
CSRF = {"X-Requested-With": "handoff-console"}


@pytest.fixture(scope="module")
def rasa():
    fake = FakeRasa()
    yield fake
    fake.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def env(request, rasa, tmp_path_factory):
    """(server, store) on one backend, with agents alice, bob and carol."""
    tmp = tmp_path_factory.mktemp(request.param)
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'handoff.sqlite3'}"
    else:
        schema = PostgresSchema().__enter__()
        url = schema.url
    store = Store(url)
    for name in ("alice", "bob", "carol"):
        store.create_agent(name, name.title(), hash_password(PASSWORD))
    server = HandoffServer(url, rasa.url, tmp / "server.log").start()
    yield server, store
    server.stop()
    store.close()
    if schema:
        schema.__exit__(None, None, None)


def login(server: HandoffServer, name: str) -> httpx.Client:
    """A client authenticated with a bearer token (no CSRF header needed)."""
    response = httpx.post(server.url + "/api/login", json={"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {response.json()['token']}"}, timeout=20
    )


def new_handoff(store: Store, sender: str, channel: str = "webchat") -> str:
    messages = [{"ts": time.time() - 5, "role": "user", "text": "cho tôi gặp nhân viên", "source_key": "a"}]
    return store.create_handoff(
        sender,
        channel,
        "citizen_request",
        {
            "question": "quên mật khẩu",
            "top_guides": [{"id": "vneid_forgot_password", "title": "Quên mật khẩu", "score": 0.4}],
        },
        messages,
        synced_until=time.time() - 5,
    )["id"]


def test_every_api_route_but_login_refuses_anonymous_requests(env):
    server, store = env
    handoff_id = new_handoff(store, f"anon-{time.time()}")
    checked = 0
    for path, methods in openapi.spec()["paths"].items():
        for method in methods:
            if path == "/api/login":
                continue
            url = server.url + path.replace("{id}", handoff_id if "callbacks" not in path else "1")
            for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Cookie": "handoff_session=forged"}):
                response = httpx.request(method.upper(), url, headers={**headers, **CSRF}, json={"text": "x"})
                assert response.status_code == 401, (method, path, headers, response.text)
            checked += 1
    assert checked >= 13
    # unknown API paths do not tell strangers what exists
    assert httpx.get(server.url + "/api/admin/secret").status_code == 401
    assert store.get_handoff(handoff_id)["status"] == "queued"


def test_login_sets_an_httponly_cookie_and_cookie_requests_need_the_csrf_header(env):
    server, _ = env
    with httpx.Client(base_url=server.url) as browser:
        response = browser.post("/api/login", json={"username": "ALICE", "password": PASSWORD})
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
        assert "handoff_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert browser.get("/api/me").json()["username"] == "alice"
        assert browser.post("/api/heartbeat").status_code == 403  # no X-Requested-With: a cross-site form
        assert browser.post("/api/heartbeat", headers=CSRF).status_code == 200
        assert browser.post("/api/logout", headers=CSRF).status_code == 200
        assert browser.get("/api/me").status_code == 401
    assert httpx.post(server.url + "/api/login", json={"username": "alice", "password": "wrong"}).status_code == 401
    assert httpx.post(server.url + "/api/login", content=b"{bad json").status_code == 400


def test_two_agents_claiming_at_once_only_one_wins(env):
    server, store = env
    alice, bob = login(server, "alice"), login(server, "bob")
    for n in range(5):
        handoff_id = new_handoff(store, f"race-{n}-{time.time()}")
        statuses: dict[str, int] = {}
        barrier = threading.Barrier(2)

        def claim(
            name: str, client: httpx.Client, handoff_id: str, barrier: threading.Barrier, statuses: dict[str, int]
        ) -> None:
            barrier.wait(timeout=20)
            statuses[name] = client.post(f"/api/conversations/{handoff_id}/claim").status_code

        threads = [
            threading.Thread(target=claim, args=(*a, handoff_id, barrier, statuses))
            for a in (("alice", alice), ("bob", bob))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(statuses.values()) == [200, 409], statuses
        winner = next(name for name, status in statuses.items() if status == 200)
        assert store.get_handoff(handoff_id)["claimed_by_username"] == winner


def test_an_agent_cannot_act_on_another_agents_conversation(env, rasa):
    server, store = env
    alice, bob = login(server, "alice"), login(server, "bob")
    sender = f"mine-{time.time()}"
    handoff_id = new_handoff(store, sender)
    assert alice.post(f"/api/conversations/{handoff_id}/claim").status_code == 200
    base = f"/api/conversations/{handoff_id}"
    assert bob.get(base).status_code == 403
    assert bob.post(base + "/reply", json={"text": "xin chào"}).status_code == 403
    for action in ("close", "hand-back", "release"):
        assert bob.post(f"{base}/{action}").status_code == 403
    assert bob.post(base + "/claim").status_code == 409
    time.sleep(0.3)
    # nothing but the claim notice reached the citizen
    assert [c["events"] for c in rasa.appended if c["sender"] == sender] in (
        [],
        [[{"event": "bot", "text": hm.CLAIMED_TEXT}]],
    )
    assert store.get_handoff(handoff_id)["claimed_by_username"] == "alice"
    queue = bob.get("/api/queue").json()
    other = next(item for item in queue["others"] if item["id"] == handoff_id)
    assert "question" not in other and other["claimed_by"] == "alice"


def test_reply_is_delivered_through_rasa_into_the_citizens_channel(env, rasa):
    server, store = env
    alice = login(server, "alice")
    sender = f"citizen {time.time()}/x"  # needs URL quoting
    handoff_id = new_handoff(store, sender, channel="webchat")
    assert alice.post(f"/api/conversations/{handoff_id}/reply", json={"text": "chào"}).status_code == 409
    alice.post(f"/api/conversations/{handoff_id}/claim")
    response = alice.post(f"/api/conversations/{handoff_id}/reply", json={"text": "Chào bạn, tôi là Alice."})
    assert response.status_code == 200 and response.json()["delivery"] == "pushed"
    [call] = [c for c in rasa.appended if c["sender"] == sender and c["events"][0].get("data")]
    assert call["sender"] == sender
    assert call["params"]["output_channel"] == "webchat" and call["params"]["execute_side_effects"] == "true"
    # the text once, flagged as a human agent's (a text inside "custom" too would be sent twice)
    assert call["events"] == [
        {"event": "bot", "text": "Chào bạn, tôi là Alice.", "data": {"custom": {"human_agent": True}}}
    ]
    assert alice.post(f"/api/conversations/{handoff_id}/reply", json={"text": " "}).status_code == 400
    assert alice.post(f"/api/conversations/{handoff_id}/reply", json={"text": "x" * 2001}).status_code == 400

    view = alice.get(f"/api/conversations/{handoff_id}").json()
    # the agent's event is not copied twice; the claim notice is a bot message
    assert sorted(m["role"] for m in view["messages"]) == ["agent", "bot", "user"]
    assert [m["text"] for m in view["messages"] if m["role"] == "bot"] == [hm.CLAIMED_TEXT]
    assert [m for m in view["messages"] if m["role"] == "agent"][0]["agent"] == "alice"

    rest_sender = f"rest-{time.time()}"
    rest_id = new_handoff(store, rest_sender, channel="rest")
    alice.post(f"/api/conversations/{rest_id}/claim")
    response = alice.post(f"/api/conversations/{rest_id}/reply", json={"text": "Chào bạn"})
    assert response.json()["delivery"] == "pushed"  # into the REST channel's outbox (bot/channels/rest.py)
    assert [c for c in rasa.appended if c["sender"] == rest_sender][-1]["params"]["output_channel"] == "rest"


def test_new_citizen_messages_are_read_from_rasa_masked_and_redacted(env, rasa):
    server, store = env
    alice, carol = login(server, "alice"), login(server, "carol")
    sender = f"pii-{time.time()}"
    handoff_id = new_handoff(store, sender)
    rasa.user_says(sender, "số cccd của tôi là 079123456789, sđt 0912345678")
    rasa.user_says(sender, "OTP 482913 đây, mật khẩu là abc123")
    view = carol.get(f"/api/conversations/{handoff_id}").json()  # queued: any agent may look before claiming
    text = " ".join(m["text"] for m in view["messages"])
    assert view["masked"] is True
    for raw in ("079123456789", "0912345678", "482913", "abc123"):
        assert raw not in text
    assert "*********789" in text and "*******678" in text and "[đã ẩn]" in text
    assert carol.get(f"/api/conversations/{handoff_id}?reveal=1").status_code == 403  # only its agent
    alice.post(f"/api/conversations/{handoff_id}/claim")
    revealed = alice.get(f"/api/conversations/{handoff_id}?reveal=1").json()
    text = " ".join(m["text"] for m in revealed["messages"])
    assert "079123456789" in text and "482913" not in text and "abc123" not in text
    assert [a["action"] for a in store.audit_log(handoff_id)] == ["claim", "reveal"]
    # synced once: reading again adds nothing (3 messages and the claim notice)
    assert len(alice.get(f"/api/conversations/{handoff_id}").json()["messages"]) == 4
    assert len(alice.get(f"/api/conversations/{handoff_id}").json()["messages"]) == 4


@pytest.mark.parametrize(
    "action, status, utterance",
    [("close", "closed", "utter_handoff_closed"), ("hand-back", "returned", "utter_handoff_returned")],
)
def test_close_and_hand_back_resume_the_bot(env, rasa, action, status, utterance):
    server, store = env
    alice = login(server, "alice")
    sender = f"end-{action}-{time.time()}"
    handoff_id = new_handoff(store, sender)
    alice.post(f"/api/conversations/{handoff_id}/claim")
    assert alice.post(f"/api/conversations/{handoff_id}/{action}").status_code == 200
    events = [c for c in rasa.appended if c["sender"] == sender][-1]["events"]
    assert [e["event"] for e in events] == ["action", "bot", "resume", "action"]
    assert events[0]["name"] == utterance and events[-1]["name"] == "action_listen"
    assert store.get_handoff(handoff_id)["status"] == status
    assert alice.post(f"/api/conversations/{handoff_id}/reply", json={"text": "còn đó không"}).status_code == 409
    assert handoff_id not in [i["id"] for i in alice.get("/api/queue").json()["mine"]]


def test_rasa_down_gives_502_and_changes_nothing(env, rasa):
    server, store = env
    alice = login(server, "alice")
    handoff_id = new_handoff(store, f"down-{time.time()}")
    alice.post(f"/api/conversations/{handoff_id}/claim")
    rasa.fail = True
    try:
        assert alice.post(f"/api/conversations/{handoff_id}/reply", json={"text": "alo"}).status_code == 502
        assert alice.post(f"/api/conversations/{handoff_id}/close").status_code == 502
        view = alice.get(f"/api/conversations/{handoff_id}").json()
        assert view["conversation"]["rasa_error"] and len(view["messages"]) == 1
    finally:
        rasa.fail = False
    assert store.get_handoff(handoff_id)["status"] == "claimed"


def test_queue_release_callbacks_openapi_and_console(env):
    server, store = env
    alice = login(server, "alice")
    handoff_id = new_handoff(store, f"q-{time.time()}")
    queue = alice.get("/api/queue").json()
    item = next(i for i in queue["queued"] if i["id"] == handoff_id)
    assert item["top_guide"] == "Quên mật khẩu" and item["position"] >= 1 and item["channel"] == "webchat"
    alice.post(f"/api/conversations/{handoff_id}/claim")
    assert alice.post(f"/api/conversations/{handoff_id}/release").status_code == 200
    assert store.get_handoff(handoff_id)["status"] == "queued"

    cb = store.add_callback("cb-sender", "zalo", "Trần Thị B", "0987654321", "đồng ý")
    listed = alice.get("/api/callbacks").json()
    assert any(c["id"] == cb and c["phone"] == "*******321" for c in listed["callbacks"])
    # an agent who does not hold the citizen's handoff cannot reveal the number ...
    revealed = alice.get("/api/callbacks?reveal=1").json()["callbacks"]
    assert any(c["id"] == cb and c["phone"] == "*******321" and c["masked"] for c in revealed)
    # ... the agent holding it can
    mine = new_handoff(store, f"cb-{time.time()}")
    alice.post(f"/api/conversations/{mine}/claim")
    cb_mine = store.add_callback(f"cb-{mine}", "webchat", "Lê Văn C", "0912345678", "đồng ý", handoff_id=mine)
    revealed = alice.get("/api/callbacks?reveal=1").json()["callbacks"]
    assert any(c["id"] == cb_mine and c["phone"] == "0912345678" for c in revealed)
    assert any(c["id"] == cb and c["masked"] for c in revealed)
    # ... and so can a supervisor, every number
    store.set_role("alice", "supervisor")
    revealed = alice.get("/api/callbacks?reveal=1").json()["callbacks"]
    assert any(c["id"] == cb and c["phone"] == "0987654321" for c in revealed)
    store.set_role("alice", "agent")
    assert alice.post(f"/api/callbacks/{cb}/done").status_code == 200
    assert alice.post(f"/api/callbacks/{cb}/done").status_code == 409

    spec = alice.get("/api/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/api/conversations/{id}/claim" in spec["paths"]
    page = httpx.get(server.url + "/console")
    assert page.status_code == 200 and "Đăng nhập" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    js = httpx.get(server.url + "/console/app.js")
    assert js.headers["content-type"].startswith("application/javascript") and "innerHTML" not in js.text
    assert httpx.get(server.url + "/console/../server.py").status_code == 404


def test_restart_loses_nothing(env, rasa):
    server, store = env
    alice = login(server, "alice")
    handoff_id = new_handoff(store, f"restart-{time.time()}")
    alice.post(f"/api/conversations/{handoff_id}/claim")
    alice.post(f"/api/conversations/{handoff_id}/reply", json={"text": "Trước khi khởi động lại"})
    before = alice.get(f"/api/conversations/{handoff_id}").json()
    server.kill()  # a crash, not a clean stop
    server.start()
    after = alice.get(f"/api/conversations/{handoff_id}").json()  # the same token still works
    assert after["messages"] == before["messages"]
    assert after["conversation"]["status"] == "claimed" and after["conversation"]["mine"] is True
    again = alice.post(f"/api/conversations/{handoff_id}/reply", json={"text": "Sau khi khởi động lại"})
    assert again.status_code == 200


def test_login_limits_are_atomic_and_a_stranger_cannot_lock_an_agent_out(tmp_path, rasa):
    url = f"sqlite:///{tmp_path / 'rl.sqlite3'}"
    store = Store(url)
    for name in ("alice", "bob"):
        store.create_agent(name, name, hash_password(PASSWORD))
    server = HandoffServer(
        url, rasa.url, tmp_path / "rl.log", HANDOFF_TRUSTED_PROXIES="127.0.0.1", HANDOFF_LOGIN_MAX_FAILURES_PER_IP="8"
    ).start()
    try:

        def attempt(user: str, password: str, forwarded: str) -> int:
            return httpx.post(
                server.url + "/api/login",
                json={"username": user, "password": password},
                headers={"X-Forwarded-For": forwarded},
                timeout=60,
            ).status_code

        # 12 concurrent wrong passwords from one address: counted atomically, at most 5 get through
        with ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(lambda _: attempt("alice", "wrong", "10.0.0.1"), range(12)))
        assert codes.count(401) == 5 and codes.count(429) == 7, codes
        # that address is backed off for alice, even with the right password ...
        assert attempt("alice", PASSWORD, "10.0.0.1") == 429
        # ... but the stranger did not lock alice out: from her own address she logs in
        assert attempt("alice", PASSWORD, "10.0.0.2") == 200
        # only the entry our proxy appended counts: a forged first entry does not escape the limit
        assert attempt("alice", PASSWORD, "6.6.6.6, 10.0.0.1") == 429
        # per address: 8 failures for any names back off that address for everyone
        assert [attempt(f"nobody{i}", "wrong", "10.9.9.9") for i in range(8)] == [401] * 8
        assert attempt("bob", PASSWORD, "10.9.9.9") == 429
        assert attempt("bob", PASSWORD, "10.9.9.10") == 200
        # the limit survives a restart (it is in the store)
        server.kill()
        server.start()
        assert attempt("alice", "wrong", "10.0.0.1") == 429
    finally:
        server.stop()
        store.close()


def test_x_forwarded_for_is_ignored_without_a_trusted_proxy(tmp_path, rasa):
    url = f"sqlite:///{tmp_path / 'xff.sqlite3'}"
    store = Store(url)
    store.create_agent("alice", "alice", hash_password(PASSWORD))
    server = HandoffServer(url, rasa.url, tmp_path / "xff.log").start()
    try:
        codes = [
            httpx.post(
                server.url + "/api/login",
                json={"username": "alice", "password": "wrong"},
                headers={"X-Forwarded-For": f"10.1.1.{i}"},
                timeout=60,
            ).status_code
            for i in range(6)
        ]
        # a new forged address each time does not reset the count: the peer (127.0.0.1) is the client
        assert codes == [401] * 5 + [429]
    finally:
        server.stop()
        store.close()


def test_a_claim_tells_the_citizen_and_the_ones_still_waiting_their_new_place(env, rasa):
    server, store = env
    alice = login(server, "alice")
    bob = store.agent_by_username("bob")["id"]
    for left in store.list_handoffs(("queued",)):  # other tests' handoffs: out of the queue
        store.claim(left["id"], bob)
    stamp = time.time()
    senders = [f"queue-{stamp}-{i}" for i in range(8)]
    ids = [new_handoff(store, sender) for sender in senders]
    assert alice.post(f"/api/conversations/{ids[0]}/claim").status_code == 200

    def said(sender: str) -> list[str]:
        return [e["text"] for c in rasa.appended if c["sender"] == sender for e in c["events"]]

    assert wait_for(lambda: said(senders[0])) == [hm.CLAIMED_TEXT]
    assert wait_for(lambda: said(senders[QUEUE_NOTICE_MAX])) == [hm.position_text(QUEUE_NOTICE_MAX)]
    for place, sender in enumerate(senders[1:], start=1):  # the first five still waiting, in queue order
        assert said(sender) == ([hm.position_text(place)] if place <= QUEUE_NOTICE_MAX else []), place
    assert hm.position_text(1) != hm.position_text(2) and "vị trí số 2" in hm.position_text(2)


def test_a_claim_stands_when_rasa_cannot_be_told(env, rasa):
    server, store = env
    alice = login(server, "alice")
    handoff_id = new_handoff(store, f"quiet-{time.time()}")
    rasa.fail = True
    try:
        assert alice.post(f"/api/conversations/{handoff_id}/claim").status_code == 200
    finally:
        time.sleep(0.5)
        rasa.fail = False
    assert store.get_handoff(handoff_id)["status"] == "claimed"


def test_replies_that_did_not_reach_a_citizen_are_listed_for_agents(env):
    server, store = env
    sender = f"messenger:2710{int(time.time() * 1000) % 10**6:06d}"
    handoff_id = new_handoff(store, sender)
    body = '{"message": {"text": "Bạn gọi 0912345678 nhé"}, "human_agent": true}'
    failed, _ = store.delivery_add("messenger", sender, body, lease=30)
    store.delivery_failed(failed, 400, "code 551: This person isn't available right now.")
    store.delivery_add("messenger", sender, body.replace("Bạn", "Anh"), lease=30)  # still pending
    alice = login(server, "alice")

    listed = alice.get("/api/deliveries").json()
    mine = [r for r in listed["failed"] if r["id"] == failed]
    assert mine and mine[0]["status"] == 400 and "551" in mine[0]["error"]
    assert mine[0]["sender"] == mask_pii(sender) and "0912345678" not in mine[0]["text"]  # as the queue masks
    assert listed["counts"]["failed"] >= 1 and listed["counts"]["pending"] >= 1

    one = alice.get(f"/api/conversations/{handoff_id}/deliveries").json()
    assert [r["id"] for r in one["failed"]] == [failed] and one["pending"] == 1
    assert alice.get("/api/conversations/nope/deliveries").status_code == 404
