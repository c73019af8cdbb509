"""Locust users: citizens holding multi-turn conversations over the REST channel and the web chat.

Run through ``python -m loadtest`` (``make load``), which sets these variables and reads the log:

* ``LOAD_LOG``: JSON-lines file, one line per HTTP attempt (loadtest/report.py reads it);
* ``LOAD_THINK``: ``"min,max"`` seconds a citizen waits between messages, ``0`` for a closed loop;
* ``LOAD_WEBCHAT_SHARE``: share of the citizens on the web chat (the rest use REST), 0-1;
* ``LOAD_SCENARIOS``: the scenario file (loadtest/scenarios.yml);
* ``LOAD_RUN``: an id put into the REST sender ids, so runs never share a conversation.

A failed attempt (no connection, 5xx, 429, or a web chat reply that never came) is retried with
the same text after a back-off (0.5, 1, 2, 4, 8 s), as a patient client would; the web chat retries
with the same ``client_msg_id``, which the bot de-duplicates. Each attempt is logged.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from pathlib import Path

from locust import HttpUser, between, constant, task

from loadtest.report import load_scenarios

ROOT = Path(__file__).resolve().parent
LOG_PATH = os.environ.get("LOAD_LOG", "var/load/attempts.jsonl")
RUN = os.environ.get("LOAD_RUN", uuid.uuid4().hex[:8])
WEBCHAT_SHARE = float(os.environ.get("LOAD_WEBCHAT_SHARE", "0.3"))
BACKOFF = [0.5, 1.0, 2.0, 4.0, 8.0]
REQUEST_TIMEOUT = 60.0
# The web chat answers a send with 202 and the replies arrive by long poll; a reply later than this
# counts as a failed attempt and the message is sent again (the bot drops the duplicate).
WEBCHAT_REPLY_TIMEOUT = 30.0
POLL_WAIT = 20


def _think():
    raw = os.environ.get("LOAD_THINK", "2,8")
    low, _, high = raw.partition(",")
    low_s, high_s = float(low), float(high or low)
    return constant(0) if high_s <= 0 else between(low_s, high_s)


SCENARIOS = load_scenarios(os.environ.get("LOAD_SCENARIOS") or ROOT / "scenarios.yml")
_log_lock = threading.Lock()
_log = None


def log_attempt(**record) -> None:
    global _log
    with _log_lock:
        if _log is None:
            Path(LOG_PATH).parent.mkdir(parents=True, exist_ok=True)
            _log = open(LOG_PATH, "a", encoding="utf-8", buffering=1)
        _log.write(json.dumps(record, ensure_ascii=False) + "\n")


class Citizen(HttpUser):
    abstract = True
    wait_time = _think()
    channel = ""

    def on_start(self) -> None:
        self.turns: list[str] = []
        self.seq = 0

    def new_conversation(self) -> None:
        raise NotImplementedError

    def attempt(self, text: str) -> tuple[bool, object]:
        """Send ``text`` once: (ok, HTTP status or error name)."""
        raise NotImplementedError

    @task
    def next_turn(self) -> None:
        if not self.turns:
            name = random.choice(sorted(SCENARIOS))
            self.turns = list(SCENARIOS[name])
            self.seq = 0
            if not self.new_conversation():
                self.turns = []
                return
        text = self.turns.pop(0)
        self.seq += 1
        for attempt in range(1, len(BACKOFF) + 2):
            start = time.time()
            self.replies = None
            ok, status = self.attempt(text)
            final = ok or attempt == len(BACKOFF) + 1
            log_attempt(
                channel=self.channel,
                sender=self.sender,
                seq=self.seq,
                text=text,
                attempt=attempt,
                start=start,
                ms=round((time.time() - start) * 1000, 1),
                status=status,
                ok=ok,
                final=final,
                replies=self.replies,
            )
            if ok:
                return
            if not final:
                time.sleep(BACKOFF[attempt - 1])
        self.turns = []  # gave up: this conversation ends here


class RestCitizen(Citizen):
    weight = max(0, round(100 * (1 - WEBCHAT_SHARE)))
    channel = "rest"

    def new_conversation(self) -> bool:
        self.sender = f"load-{RUN}-{uuid.uuid4().hex[:16]}"
        return True

    def attempt(self, text: str) -> tuple[bool, object]:
        try:
            with self.client.post(
                "/webhooks/rest/webhook",
                json={"sender": self.sender, "message": text},
                name="rest: message",
                timeout=REQUEST_TIMEOUT,
                catch_response=True,
            ) as response:
                ok = response.status_code == 200 and isinstance(response.json(), list)
                self.replies = len(response.json()) if ok else None
                if ok:
                    response.success()
                else:
                    response.failure(f"HTTP {response.status_code}")
                return ok, response.status_code or type(response.error).__name__
        except Exception as exc:  # noqa: BLE001 - any failure is logged and retried
            return False, type(exc).__name__


class WebchatCitizen(Citizen):
    weight = max(0, round(100 * WEBCHAT_SHARE))
    channel = "webchat"

    def new_conversation(self) -> bool:
        for delay in [0.0, *BACKOFF]:
            time.sleep(delay)
            try:
                response = self.client.post(
                    "/webhooks/webchat/session", json={}, name="webchat: session", timeout=REQUEST_TIMEOUT
                )
                if response.status_code == 200:
                    body = response.json()
                    self.sender, self.token, self.after = body["sender"], body["token"], 0
                    return True
            except Exception:  # noqa: BLE001 - retried
                pass
        return False

    def attempt(self, text: str) -> tuple[bool, object]:
        headers = {"X-Webchat-Token": self.token}
        try:
            response = self.client.post(
                "/webhooks/webchat/send",
                headers=headers,
                name="webchat: send",
                json={"sender": self.sender, "message": text, "client_msg_id": f"m{self.seq}"},
                timeout=REQUEST_TIMEOUT,
            )
            if response.status_code != 202:
                return False, response.status_code or "no response"
            deadline = time.time() + WEBCHAT_REPLY_TIMEOUT
            replied = False
            while time.time() < deadline:
                poll = self.client.get(
                    "/webhooks/webchat/poll",
                    headers=headers,
                    name="webchat: poll",
                    params={"sender": self.sender, "after": self.after, "wait": POLL_WAIT},
                    timeout=POLL_WAIT + 15,
                )
                if poll.status_code != 200:
                    return False, poll.status_code or "no response"
                body = poll.json()
                if int(body.get("last_id") or 0) < self.after:  # another mailbox (replica restarted): re-read
                    self.after = 0
                    continue
                events = body.get("events") or []
                if events:
                    self.after = max(self.after, *(int(e.get("id", 0)) for e in events))
                bot = [e for e in events if e.get("type") != "user"]
                replied = replied or bool(bot)
                self.replies = (self.replies or 0) + len(bot)
                if replied and not body.get("busy") and not body.get("more"):
                    return True, 200
            return False, "no reply"
        except Exception as exc:  # noqa: BLE001 - any failure is logged and retried
            return False, type(exc).__name__
