"""Fixtures for the handoff end-to-end tests (imported by tests/e2e/test_handoff*.py).

The real bot (tests/e2e/conftest.py: action server + Rasa server) plus ``python -m handoff.server``.
The action server and the handoff server share one SQLite file in a temporary folder: the
environment below is set when this module is imported, i.e. at collection, before the session's
``bot`` fixture starts the action server (which inherits it).

Citizens: the REST channel cannot receive a message it did not ask for (Rasa's RestInput answers
only the request that carried the citizen's message; for out-of-band messages it falls back to a
collecting channel), so agent replies are checked on the web chat channel
(bot.channels.webchat.WebChatInput, which must be enabled in credentials.yml).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.handoff.harness import HandoffServer

ROOT = Path(__file__).resolve().parents[2]
WORK = Path(tempfile.mkdtemp(prefix="handoff-e2e-"))
DATABASE_URL = f"sqlite:///{WORK / 'handoff.sqlite3'}"
PASSWORD = "mat-khau-e2e-123"
os.environ["HANDOFF_DATABASE_URL"] = DATABASE_URL
os.environ["HANDOFF_HOURS"] = "24/7"
os.environ["HANDOFF_HOLIDAYS"] = ""


@pytest.fixture(scope="session")
def handoff_server(bot):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("alice", "bob"):
        subprocess.run(
            [sys.executable, "-m", "handoff.admin", "create-agent", name, "--password-stdin"],
            input=PASSWORD + "\n",
            text=True,
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    (ROOT / "var" / "logs").mkdir(parents=True, exist_ok=True)
    server = HandoffServer(
        DATABASE_URL, bot.rasa_url, ROOT / "var" / "logs" / "handoff-e2e.log", RASA_TOKEN=bot.rasa_token
    ).start()
    yield server
    server.stop()
    shutil.rmtree(WORK, ignore_errors=True)


def agent_client(server: HandoffServer, name: str) -> httpx.Client:
    response = httpx.post(server.url + "/api/login", json={"username": name, "password": PASSWORD}, timeout=30)
    assert response.status_code == 200, response.text
    client = httpx.Client(
        base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {response.json()['token']}"}
    )
    assert client.post("/api/heartbeat").status_code == 200
    return client


@pytest.fixture()
def alice(handoff_server):
    client = agent_client(handoff_server, "alice")
    yield client
    client.close()


@pytest.fixture()
def bob(handoff_server):
    client = agent_client(handoff_server, "bob")
    yield client
    client.close()


@pytest.fixture(scope="session")
def webchat_enabled(bot):
    response = httpx.get(bot.rasa_url + "/webhooks/webchat/", timeout=10)
    if response.status_code != 200:
        pytest.fail(
            "the web chat channel is not enabled: add `bot.channels.webchat.WebChatInput:` to "
            "credentials.yml (agent replies are delivered into it)",
            pytrace=False,
        )


class WebChatCitizen:
    """A citizen on the web chat widget: send, and long-poll the mailbox like the widget does."""

    def __init__(self, rasa_url: str) -> None:
        self.http = httpx.Client(base_url=rasa_url + "/webhooks/webchat", timeout=60)
        # a conversation the server issues, bound to this "browser" by its token
        session = self.http.post("/session")
        assert session.status_code == 200, session.text
        self.sender = session.json()["sender"]
        self.http.headers["X-Webchat-Token"] = session.json()["token"]
        self.after = 0
        self.events: list[dict] = []

    def send(self, text: str) -> None:
        response = self.http.post(
            "/send", json={"sender": self.sender, "message": text, "client_msg_id": uuid.uuid4().hex}
        )
        assert response.status_code == 202, response.text

    def poll(self, wait: float = 5.0) -> tuple[list[dict], bool]:
        response = self.http.get("/poll", params={"sender": self.sender, "after": self.after, "wait": wait})
        assert response.status_code == 200, response.text
        data = response.json()
        new = data["events"]
        if new:
            self.after = new[-1]["id"]
            self.events += new
        return new, data["busy"]

    def wait_for(self, predicate, timeout: float = 120.0) -> list[dict]:
        """New events until ``predicate(new events)`` holds."""
        seen: list[dict] = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            new, _ = self.poll(wait=5)
            seen += new
            if predicate(seen):
                return seen
        raise AssertionError(f"timed out; events so far: {seen}")

    def settle(self, quiet: float = 4.0, timeout: float = 120.0) -> list[dict]:
        """Events until the bot is idle and nothing new arrived for ``quiet`` seconds."""
        seen: list[dict] = []
        deadline = time.time() + timeout
        last_new = time.time()
        while time.time() < deadline:
            new, busy = self.poll(wait=1)
            seen += new
            if new or busy:
                last_new = time.time()
            elif time.time() - last_new >= quiet:
                return seen
        raise AssertionError("the bot never went idle")

    def close(self) -> None:
        self.http.close()


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e.get("type") == kind]


def find_handoff(
    client: httpx.Client, masked_sender: str | None = None, handoff_id: str | None = None, timeout: float = 30.0
) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        queue = client.get("/api/queue").json()
        for item in queue["queued"] + queue["mine"] + queue["others"]:
            if (handoff_id and item["id"] == handoff_id) or (masked_sender and item["sender"] == masked_sender):
                return item
        time.sleep(0.5)
    raise AssertionError("handoff not in the queue")
