"""Fixtures shared by the channel tests (helpers live in channel_testkit.py)."""

from typing import Any

import pytest
from sanic import Sanic

_CHANNEL_ENV = [
    "ZALO_APP_ID",
    "ZALO_OA_SECRET_KEY",
    "ZALO_ACCESS_TOKEN",
    "ZALO_REFRESH_TOKEN",
    "ZALO_APP_SECRET",
    "ZALO_DRY_RUN",
    "ZALO_TOKEN_FILE",
    "FB_VERIFY_TOKEN",
    "FB_APP_SECRET",
    "FB_PAGE_ACCESS_TOKEN",
    "FB_DRY_RUN",
    "ZALO_SEND_URL",
    "FB_SEND_URL",
    "WEBCHAT_DB",
    "REST_OUTBOX_DB",
    "WEBCHAT_ALLOWED_ORIGINS",
    "DVC_TRUSTED_PROXIES",
    "DVC_MAX_TEXT_CHARS",
    "DVC_DEDUPE_DB",
    "DVC_OUTBOX_URL",
    "HANDOFF_DATABASE_URL",
]
# Web chat tokens in the tests are made with this secret (channel_testkit.webchat_token).
TEST_WEBCHAT_SECRET = "test-webchat-secret"


@pytest.fixture(autouse=True)
def clean_channel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Tests never see real secrets from the environment nor write into the repo."""
    # Like sanic-testing: lets several apps start in one process (TouchUp
    # re-applies to the original methods, app names may repeat).
    monkeypatch.setattr(Sanic, "test_mode", True)
    for name in _CHANNEL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZALO_TOKEN_FILE", str(tmp_path / "zalo_tokens.json"))
    monkeypatch.setenv("WEBCHAT_SECRET", TEST_WEBCHAT_SECRET)
    # webhook dedupe in this test's own file; rate limits only where a test turns them on
    monkeypatch.setenv("DVC_DEDUPE_DB", str(tmp_path / "dedupe.sqlite3"))
    # replies to Zalo/Messenger go through this test's own outbox
    monkeypatch.setenv("DVC_OUTBOX_URL", f"sqlite:///{tmp_path / 'outbox.sqlite3'}")
    monkeypatch.setenv("DVC_RATE_LIMITS", "off")
    # the fixed timestamps of the recorded Zalo events; test_channel_security checks the window
    monkeypatch.setenv("ZALO_TIMESTAMP_WINDOW_SECONDS", "0")
