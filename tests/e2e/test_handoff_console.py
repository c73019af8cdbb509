"""The agent console in a real browser (headless Debian Chromium through Playwright): log in, see the
web chat citizen in the queue with what the bot understood, claim, answer, hand back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from handoff.messages import RETURNED_TEXT
from core.privacy import mask_pii

pytest.register_assert_rewrite("tests.e2e.conftest_handoff")  # before the import below
from tests.e2e.conftest_handoff import PASSWORD, WebChatCitizen, find_handoff, of_type

pytest_plugins = ["tests.e2e.conftest_handoff"]

CHROMIUM = os.environ.get("HANDOFF_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "var" / "logs"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def test_console_login_claim_and_answer(bot, webchat_enabled, handoff_server, alice, browser):
    citizen = WebChatCitizen(bot.rasa_url)
    page = browser.new_page(locale="vi-VN")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        citizen.send("quen mat khau vneid thi lam sao")
        citizen.wait_for(lambda ev: of_type(ev, "bot"))
        citizen.settle(quiet=2)
        citizen.send("cho tôi gặp nhân viên, sđt tôi 0912345678")
        citizen.wait_for(
            lambda ev: any(
                "hàng chờ" in e.get("text", "") or "người tiếp theo" in e.get("text", "") for e in of_type(ev, "bot")
            )
        )
        item = find_handoff(alice, masked_sender=mask_pii(citizen.sender))

        page.goto(handoff_server.url + "/console")
        page.wait_for_selector("#work-view", state="hidden")
        page.fill("#username", "alice")
        page.fill("#password", "sai-mat-khau")
        page.click("#login-button")
        page.wait_for_selector("#login-error:has-text('Sai tên đăng nhập')")
        page.fill("#password", PASSWORD)
        page.click("#login-button")
        page.wait_for_selector("#work-view", state="visible")
        page.wait_for_selector("#login-view", state="hidden")
        entry = page.locator(f"#queue-list li[data-id='{item['id']}']")
        entry.wait_for(timeout=15000)
        entry.click()
        page.wait_for_selector("#conversation:not([hidden])")
        # what the bot understood, and the citizen's messages with the phone number masked
        page.wait_for_selector("#understanding dd")
        transcript = page.locator("#messages").inner_text()
        assert "*******678" in transcript and "0912345678" not in transcript
        understood = page.locator(".context").inner_text()
        assert "quen mat khau vneid" in understood and "Quên mật khẩu" in understood  # question, top guide

        assert page.locator("#reply-form").is_hidden()  # not claimed yet: no reply box
        page.click("#claim")
        page.wait_for_selector("#reply-form", state="visible")
        page.fill("#reply-text", "Chào bạn, tôi là tổng đài viên. Bạn đã thử chức năng Quên mật khẩu chưa?")
        page.click("#send")
        page.wait_for_selector("#messages li.agent")
        page.screenshot(path=str(SHOTS / "handoff-console.png"))
        got = citizen.wait_for(lambda ev: of_type(ev, "agent"), timeout=30)
        assert [e["text"] for e in of_type(got, "agent")] == [
            "Chào bạn, tôi là tổng đài viên. Bạn đã thử chức năng Quên mật khẩu chưa?"
        ]

        page.click("#hand-back")
        citizen.wait_for(lambda ev: any(e.get("text") == RETURNED_TEXT for e in ev), timeout=30)
        page.wait_for_selector("#claim", state="hidden")
        page.wait_for_selector("#reply-form", state="hidden")
        assert errors == []
    finally:
        page.close()
        citizen.close()
