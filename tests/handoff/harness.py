"""Test helpers: run ``python -m handoff.server`` as a real process, and a fake Rasa HTTP API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import httpx

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "the condition"):
    """Poll ``predicate`` until it returns something truthy (returned), or fail after ``timeout`` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HandoffServer:
    """``python -m handoff.server`` on a free port; ``kill()`` is a crash (SIGKILL), ``stop()`` is polite."""

    def __init__(self, database_url: str, rasa_url: str, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "HANDOFF_DATABASE_URL": database_url,
            "HANDOFF_PORT": str(self.port),
            "RASA_URL": rasa_url,
            **env,
        }
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> HandoffServer:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "handoff.server"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"handoff server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"handoff server not ready: {self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


class FakeRasa:
    """Enough of Rasa's HTTP API: trackers to read, event appends recorded."""

    def __init__(self) -> None:
        self.trackers: dict[str, dict] = {}
        self.appended: list[dict] = []  # {"sender", "events", "params"}
        self.fail = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _sender(self) -> tuple[str, str, dict]:
                url = urlparse(self.path)
                parts = url.path.split("/")
                return unquote(parts[2]), "/".join(parts[3:]), parse_qs(url.query)

            def do_GET(self) -> None:
                if fake.fail:
                    return self._reply(500, {"status": "failure"})
                sender, rest, _ = self._sender()
                tracker = fake.trackers.setdefault(sender, {"sender_id": sender, "events": [], "paused": True})
                self._reply(200, tracker)

            def do_POST(self) -> None:
                if fake.fail:
                    return self._reply(500, {"status": "failure"})
                sender, rest, params = self._sender()
                events = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.appended.append(
                    {"sender": sender, "events": events, "params": {k: v[0] for k, v in params.items()}}
                )
                tracker = fake.trackers.setdefault(sender, {"sender_id": sender, "events": [], "paused": True})
                for e in events:
                    tracker["events"].append({**e, "timestamp": time.time()})
                    if e.get("event") == "resume":
                        tracker["paused"] = False
                self._reply(200, tracker)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def user_says(self, sender: str, text: str) -> None:
        tracker = self.trackers.setdefault(sender, {"sender_id": sender, "events": [], "paused": True})
        tracker["events"].append(
            {
                "event": "user",
                "text": text,
                "timestamp": time.time(),
                "parse_data": {"intent": {"name": "nlu_fallback"}},
            }
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
