"""Start the real bot once per test session: action server + Rasa server on side ports."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from servers import Servers  # noqa: E402

# Side ports, so a developer's `make run` on 5005/5055 can stay up while the tests run.
RASA_PORT, ACTIONS_PORT = 5405, 5455


@pytest.fixture(scope="session")
def bot():
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
