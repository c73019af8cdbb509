"""Start the real bot once per test session: action server + Rasa server on side ports.

The Zalo and Messenger connectors run for real too: test secrets are set in the environment and
their send URLs point at a local stand-in of the platforms' APIs that records what the bot sends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import tempfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from servers import Servers

# The action server records handoffs and every decision (insights) here, never into the clone's
# var/handoff.sqlite3 that a developer's `make report` reads. tests/e2e/conftest_handoff.py, imported
# later by the handoff tests, points it at its own temporary file.
os.environ["HANDOFF_DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='e2e-store-')}/handoff.sqlite3"

# Side ports, so a developer's `make run` on 5005/5055 can stay up while the tests run.
# DVC_E2E_PORT_BASE moves all three, so two checkouts can run their e2e suites side by side.
_PORT_BASE = int(os.environ.get("DVC_E2E_PORT_BASE", "5400"))
RASA_PORT, ACTIONS_PORT = _PORT_BASE + 5, _PORT_BASE + 55


PLATFORM_PORT = _PORT_BASE + 99
ALLOWED_ORIGIN = "https://portal.example.gov.vn"
CHANNEL_SECRETS = {
    "ZALO_APP_ID": "e2e-zalo-app",
    "ZALO_OA_SECRET_KEY": "e2e-zalo-oa-secret",
    "ZALO_ACCESS_TOKEN": "e2e-zalo-token",
    "ZALO_SEND_URL": f"http://127.0.0.1:{PLATFORM_PORT}/zalo/send",
    "FB_APP_SECRET": "e2e-fb-app-secret",
    "FB_VERIFY_TOKEN": "e2e-fb-verify",
    "FB_PAGE_ACCESS_TOKEN": "e2e-fb-page-token",
    "FB_SEND_URL": f"http://127.0.0.1:{PLATFORM_PORT}/messenger/send",
}


def signed_messenger_event(psid: str, text: str, when_ms: int = 1764300000000) -> tuple[bytes, dict[str, str]]:
    """A Messenger webhook body for one text message, and its headers signed like Meta's
    (X-Hub-Signature-256 = HMAC-SHA256 of the body with the app secret)."""
    payload = {
        "object": "page",
        "entry": [
            {
                "id": "page",
                "time": when_ms,
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": "page"},
                        "timestamp": when_ms,
                        "message": {"mid": uuid.uuid4().hex, "text": text},
                    }
                ],
            }
        ],
    }
    raw = json.dumps(payload, ensure_ascii=False).encode()
    signature = hmac.new(CHANNEL_SECRETS["FB_APP_SECRET"].encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Hub-Signature-256": f"sha256={signature}", "Content-Type": "application/json"}


class PlatformApi:
    """A stand-in for the Zalo OA and Messenger Send APIs on loopback: records every message it
    accepts; :meth:`refuse` scripts answers other than 200 for one recipient (``attempts`` records
    every request with the status it got)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.attempts: list[tuple[str, int, dict]] = []
        self._script: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"{}")
                recipient = body.get("recipient", {})
                who = str(recipient.get("id") or recipient.get("user_id") or "")
                with api._lock:
                    script = api._script.get(who) or []
                    status = script.pop(0) if script else 200
                    api.attempts.append((who, status, body))
                    if status == 200:
                        api.sent.append((self.path.split("?")[0], body))
                reply = (
                    {"error": 0, "message": "Success", "data": {"message_id": "m"}}
                    if self.path.startswith("/zalo")
                    else {"recipient_id": "r", "message_id": "m"}
                )
                if status != 200:
                    reply = {"error": {"message": f"scripted {status}", "code": 2 if status >= 500 else 551}}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", PLATFORM_PORT), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def refuse(self, recipient: str, statuses: list[int]) -> None:
        """The next requests for ``recipient`` get these statuses (then 200 again)."""
        with self._lock:
            self._script[recipient] = list(statuses)

    def messages(self, prefix: str) -> list[dict]:
        with self._lock:
            return [body for path, body in self.sent if path.startswith(prefix)]


@pytest.fixture(scope="session")
def platform_api():
    api = PlatformApi()
    yield api
    api.server.shutdown()


@pytest.fixture(scope="session")
def bot(platform_api, tmp_path_factory):
    os.environ.update(CHANNEL_SECRETS)
    os.environ["ZALO_TOKEN_FILE"] = str(tmp_path_factory.mktemp("zalo") / "tokens.json")
    # this session's conversations (Rasa's SQL tracker store, the REST outbox, the web chat history)
    state = tmp_path_factory.mktemp("state")
    os.environ["RASA_TRACKER_DB"] = str(state / "rasa-tracker.sqlite3")
    os.environ["REST_OUTBOX_DB"] = str(state / "rest-outbox.sqlite3")
    os.environ["WEBCHAT_DB"] = str(state / "webchat.sqlite3")
    os.environ["DVC_DEDUPE_DB"] = str(state / "webhook-dedupe.sqlite3")
    # the suite sends from 127.0.0.1 faster than a citizen; test_security checks the limits themselves
    for kind in ("SENDS", "CONVERSATIONS", "HANDOFFS", "SENDER_SENDS"):
        os.environ[f"DVC_RATE_{kind}"] = "10000/60"
    # a portal origin for the CORS checks (tests/e2e/test_security.py)
    os.environ["WEBCHAT_ALLOWED_ORIGINS"] = ALLOWED_ORIGIN
    servers = Servers(rasa_port=RASA_PORT, actions_port=ACTIONS_PORT)
    try:
        servers.start_actions()
        servers.start_rasa()
        yield servers
    finally:
        servers.stop()


@pytest.fixture()
def client(bot):
    with httpx.Client(base_url=bot.rasa_url, timeout=120) as http:
        yield http
