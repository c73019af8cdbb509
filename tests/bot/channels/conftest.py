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
]


@pytest.fixture(autouse=True)
def clean_channel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Tests never see real secrets from the environment nor write into the repo."""
    # Like sanic-testing: lets several apps start in one process (TouchUp
    # re-applies to the original methods, app names may repeat).
    monkeypatch.setattr(Sanic, "test_mode", True)
    for name in _CHANNEL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZALO_TOKEN_FILE", str(tmp_path / "zalo_tokens.json"))
