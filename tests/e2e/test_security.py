"""Issue #15 against the real Rasa server: the API needs the token, CORS only for portal origins on the
web chat, conversations bound to their owner, body caps and content types, socket.io delivers, and the
shipped nginx config publishes only the widget and the webhooks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import pytest
from conftest import _PORT_BASE, ALLOWED_ORIGIN, CHANNEL_SECRETS

ROOT = Path(__file__).resolve().parents[2]
NGINX_PORT = _PORT_BASE + 30
MIB = b"{" + b" " * (1024 * 1024) + b"}"


def test_rasa_api_refuses_requests_without_the_token(client, bot):
    for method, path in (
        ("GET", "/status"),
        ("GET", "/conversations/someone/tracker"),
        ("POST", "/conversations/someone/tracker/events"),
        ("PUT", "/model"),
        ("DELETE", "/model"),
        ("POST", "/conversations/someone/execute"),
    ):
        response = client.request(method, path, json={})
        assert response.status_code == 401, (method, path, response.status_code)
        wrong = client.request(method, path, params={"token": "not-the-token"}, json={})
        assert wrong.status_code == 401, (method, path, wrong.status_code)
    assert client.get("/status", params={"token": bot.rasa_token}).status_code == 200
    # the token never appears on a command line (it reaches Rasa through the environment)
    cmdlines = [p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if p.exists()]
    assert not any(bot.rasa_token.encode() in c for c in cmdlines)


def test_cors_only_for_the_portal_origin_and_only_on_the_web_chat(client):
    evil = {
        "Origin": "https://evil.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    for path in ("/webhooks/webchat/send", "/webhooks/rest/webhook", "/conversations/x/tracker", "/status"):
        for response in (client.options(path, headers=evil), client.get(path, headers=evil)):
            assert "access-control-allow-origin" not in response.headers, (path, response.headers)
    portal = {**evil, "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Headers": "content-type, x-webchat-token"}
    preflight = client.options("/webchat-missing", headers=portal)
    assert "access-control-allow-origin" not in preflight.headers
    preflight = client.options("/webhooks/webchat/send", headers=portal)
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "x-webchat-token" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    session = client.post("/webhooks/webchat/session", headers={"Origin": ALLOWED_ORIGIN})
    assert session.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    rest = client.post(
        "/webhooks/rest/webhook",
        headers={"Origin": ALLOWED_ORIGIN},
        json={"sender": f"r-{uuid.uuid4().hex}", "message": "/greet"},
    )
    assert "access-control-allow-origin" not in rest.headers


def _webchat_session(client) -> tuple[str, dict[str, str]]:
    data = client.post("/webhooks/webchat/session").json()
    return data["sender"], {"X-Webchat-Token": data["token"]}


def test_a_conversation_answers_only_its_owner(client):
    # a REST citizen talks to the bot
    rest_sender = f"r-{uuid.uuid4().hex}"
    assert client.post("/webhooks/rest/webhook", json={"sender": rest_sender, "message": "/greet"}).status_code == 200
    # the web chat refuses that id, with or without a made-up token
    mine, token = _webchat_session(client)
    for headers in ({}, token, {"X-Webchat-Token": "0" * 64}):
        send = client.post(
            "/webhooks/webchat/send",
            headers=headers,
            json={"sender": rest_sender, "message": "chào", "client_msg_id": "x1"},
        )
        assert send.status_code == 403, send.text
        poll = client.get("/webhooks/webchat/poll", headers=headers, params={"sender": rest_sender})
        assert poll.status_code == 403, poll.text
    # another web chat citizen's conversation: refused with my token
    other, _ = _webchat_session(client)
    assert client.get("/webhooks/webchat/poll", headers=token, params={"sender": other}).status_code == 403
    assert client.get("/webhooks/webchat/poll", headers=token, params={"sender": mine}).status_code == 200
    # REST refuses the ids of the other channels (web chat, Zalo, Messenger, socket.io)
    for foreign in (mine, "zalo:123", "messenger:456", "sio-abc"):
        response = client.post("/webhooks/rest/webhook", json={"sender": foreign, "message": "chào"})
        assert response.status_code == 400, (foreign, response.text)
    # input_channel in a REST body does not reroute the replies
    replies = client.post(
        "/webhooks/rest/webhook", json={"sender": rest_sender, "message": "/greet", "input_channel": "webchat"}
    ).json()
    assert replies and all(r["recipient_id"] == rest_sender for r in replies)


@pytest.mark.parametrize(
    "path",
    ["/webhooks/zalo/webhook", "/webhooks/messenger/webhook", "/webhooks/rest/webhook", "/webhooks/webchat/send"],
)
def test_big_bodies_413_and_other_types_415(client, path):
    too_big = client.post(path, content=MIB, headers={"Content-Type": "application/json"})
    assert too_big.status_code == 413, too_big.text
    text = client.post(path, content=b'{"sender": "x", "message": "hi"}', headers={"Content-Type": "text/plain"})
    assert text.status_code == 415, text.text


SOCKET_CLIENT = textwrap.dedent("""
    import asyncio, json, sys
    import socketio

    async def main(url):
        sio = socketio.AsyncClient()
        got, confirmed = asyncio.Queue(), asyncio.Queue()
        sio.on("bot_uttered", lambda data: got.put_nowait(data))
        sio.on("session_confirm", lambda sid: confirmed.put_nowait(sid))
        # long-polling: the Rasa venv's aiohttp is too old for python-engineio's websocket client
        await sio.connect(url, transports=["polling"], socketio_path="/socket.io")
        await sio.emit("session_request", {"session_id": "w-0123456789abcdef0123456789abcdef"})
        session = await asyncio.wait_for(confirmed.get(), 30)
        await sio.emit("user_uttered", {"message": "/greet", "session_id": session})
        reply = await asyncio.wait_for(got.get(), 120)
        print(json.dumps({"session": session, "reply": reply}, ensure_ascii=False))
        await sio.disconnect()

    asyncio.run(main(sys.argv[1]))
""")


def test_socketio_client_gets_the_bots_reply(bot):
    result = subprocess.run(
        [str(ROOT / ".venv-rasa" / "bin" / "python"), "-c", SOCKET_CLIENT, bot.rasa_url],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["reply"].get("text"), data
    # a session id the client chose (another channel's conversation) was replaced by an issued one
    assert data["session"].startswith("sio-")


def _nginx() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not path:
        pytest.skip("nginx is not installed (apt-get install -y nginx): the shipped config is not exercised")
    return path


def test_shipped_nginx_config_is_valid(tmp_path):
    nginx = _nginx()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=t",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    site = (ROOT / "deploy/nginx/tro-ly-dvc.conf").read_text(encoding="utf-8")
    site = (
        site.replace("/etc/ssl/certs/bot.example.gov.vn.pem", str(tmp_path / "cert.pem"))
        .replace("/etc/ssl/private/bot.example.gov.vn.key", str(tmp_path / "key.pem"))
        .replace("/etc/nginx/conf.d/tro-ly-dvc-locations.conf", str(ROOT / "deploy/nginx/tro-ly-dvc-locations.conf"))
        .replace("/var/log/nginx/tro-ly-dvc.access.log", str(tmp_path / "access.log"))
    )
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ include {tmp_path}/site.conf; }}\n",
        encoding="utf-8",
    )
    result = subprocess.run([nginx, "-t", "-c", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture()
def proxy(bot, tmp_path):
    nginx = _nginx()
    for name in ("client_body", "proxy"):
        (tmp_path / name).mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        textwrap.dedent(f"""
        pid {tmp_path}/nginx.pid;
        error_log {tmp_path}/error.log;
        events {{}}
        http {{
            client_body_temp_path {tmp_path}/client_body;
            proxy_temp_path {tmp_path}/proxy;
            access_log off;
            upstream tro_ly_dvc_rasa {{ server 127.0.0.1:{bot.rasa_port}; }}
            server {{
                listen 127.0.0.1:{NGINX_PORT};
                include {ROOT}/deploy/nginx/tro-ly-dvc-locations.conf;
            }}
        }}
    """),
        encoding="utf-8",
    )
    process = subprocess.Popen([nginx, "-c", str(conf), "-g", "daemon off;"], stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{NGINX_PORT}"
    for _ in range(50):
        try:
            httpx.get(url + "/", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    process.send_signal(signal.SIGQUIT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def test_nginx_publishes_only_the_widget_and_the_webhooks(proxy, bot):
    with httpx.Client(base_url=proxy, timeout=60) as http:
        for path in (
            "/status",
            "/version",
            "/conversations/x/tracker",
            "/model",
            "/webhooks/rest/webhook",
            "/webhooks/rest/messages",
            "/webhooks/webchat/demo",
            "/socket.io/",
            "/",
        ):
            assert http.get(path, params={"token": bot.rasa_token}).status_code == 404, path
        assert http.put("/model", params={"token": bot.rasa_token}).status_code == 404
        assert http.get("/webhooks/webchat/widget.js").status_code == 200
        session = http.post("/webhooks/webchat/session")
        assert session.status_code == 200
        token = {"X-Webchat-Token": session.json()["token"]}
        sender = session.json()["sender"]
        sent = http.post(
            "/webhooks/webchat/send", headers=token, json={"sender": sender, "message": "/greet", "client_msg_id": "n1"}
        )
        assert sent.status_code == 202, sent.text
        assert http.get("/webhooks/webchat/poll", headers=token, params={"sender": sender}).status_code == 200
        assert (
            http.post("/webhooks/zalo/webhook", content=MIB, headers={"Content-Type": "application/json"}).status_code
            == 413
        )
        assert (
            http.get(
                "/webhooks/messenger/webhook",
                params={
                    "hub.mode": "subscribe",
                    "hub.verify_token": CHANNEL_SECRETS["FB_VERIFY_TOKEN"],
                    "hub.challenge": "42",
                },
            ).text
            == "42"
        )


def test_files_under_var_are_owner_only(bot):
    var = ROOT / "var"
    assert var.stat().st_mode & 0o777 == 0o700
    checked = 0
    for path in [
        var / "rasa-token",
        *(var / "logs").glob(f"*-{bot.rasa_port}.log"),
        *[Path(os.environ[k]) for k in ("RASA_TRACKER_DB", "WEBCHAT_DB", "REST_OUTBOX_DB")],
    ]:
        if path.exists():
            assert path.stat().st_mode & 0o777 == 0o600, path
            checked += 1
    assert checked >= 4
