"""The web chat widget in a real browser (headless Debian Chromium driven by Playwright).

Runs against the real bot started by the session fixture ``bot`` (tests/e2e/conftest.py); the
widget channel must be listed in credentials.yml (``bot.channels.webchat.WebChatInput:``).
Chromium comes from Debian (``apt-get install -y chromium``), never from ``playwright install``:
when it is missing this test FAILS with a clear message instead of being skipped.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "var" / "screenshots"
DEMO = "/webhooks/webchat/demo"
# The first answer can take a while on a busy 2-core machine (NLU + action server + search).
ANSWER_MS = 120_000

QUESTION = "quên mật khẩu vneid thì làm sao"
ATTACK = "<b>x</b><img src=x onerror=window.__xss=1>"


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium. Listed before ``bot`` so a missing browser fails before the bot starts."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)) and not shutil.which(CHROMIUM):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` "
            "(or set CHROMIUM_PATH). The widget browser test cannot run without it.",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "Playwright for Python is missing from .venv-actions: `pip install playwright` "
            "(do not run `playwright install`; the Debian Chromium is used).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_widget_chat_reload_and_xss_in_a_real_browser(browser, bot):
    from playwright.sync_api import expect

    context = browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=1, is_mobile=True, has_touch=True, locale="vi-VN"
    )
    page = context.new_page()
    page_errors: list[str] = []
    console_errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda exc: page_errors.append(str(exc)))
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        _scenario(page, context, bot.rasa_url, expect)
    finally:
        context.close()
    assert page_errors == [], page_errors
    assert not [m for m in console_errors if "Content Security Policy" in m], console_errors
    assert dialogs == []


def _scenario(page, context, rasa_url, expect):
    page.goto(rasa_url + DEMO)
    expect(page).to_have_title(re.compile("Dịch vụ công"))

    # --- open the widget: a labelled launcher, the panel as a dialog, focus in the input
    launcher = page.get_by_role("button", name="Hỏi trợ lý ảo")
    expect(launcher).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.click()
    expect(page.get_by_role("dialog", name="Trợ lý ảo Dịch vụ công")).to_be_visible()
    box = page.locator(".tl-input")
    expect(box).to_be_focused()
    expect(box).to_have_attribute("placeholder", "Nhập câu hỏi (có dấu hoặc không dấu đều được)…")
    expect(page.get_by_label("Câu hỏi của bạn")).to_be_visible()
    log = page.get_by_role("log")
    expect(log).to_have_attribute("aria-live", "polite")
    # the panel fills a 360 px phone screen
    panel = page.locator(".tl-panel").bounding_box()
    assert panel and panel["width"] == 360 and panel["x"] == 0, panel

    # --- ask: typing indicator, then an answer that mentions "mật khẩu", with feedback buttons
    box.fill(QUESTION)
    box.press("Enter")
    expect(box).to_have_value("")
    expect(page.locator(".tl-typing")).to_be_visible()
    expect(log.locator(".tl-user[data-id]", has_text=QUESTION)).to_have_count(1, timeout=30_000)
    answer = log.locator(".tl-bot[data-id]", has_text="mật khẩu")
    expect(answer.first).to_be_visible(timeout=ANSWER_MS)
    expect(page.locator(".tl-typing")).to_be_hidden(timeout=ANSWER_MS)
    assert "{" not in " ".join(log.locator(".tl-bot[data-id]").all_inner_texts())  # no JSON shown
    links = log.locator(".tl-bot[data-id] a")
    for i in range(links.count()):  # sources are clickable, open safely in a new tab
        assert re.match(r"^https?://", links.nth(i).get_attribute("href") or "")
        assert links.nth(i).get_attribute("target") == "_blank"
        assert "noopener" in (links.nth(i).get_attribute("rel") or "")

    # --- tap "👍 Có": the title is shown as the user's bubble, the payload goes to the bot
    yes = page.get_by_role("button", name="👍 Có")
    expect(yes).to_be_enabled()
    yes.click()
    thanks = log.locator(".tl-bot[data-id]", has_text="Cảm ơn bạn đã phản hồi")
    expect(thanks).to_have_count(1, timeout=ANSWER_MS)
    expect(log.locator(".tl-user[data-id]", has_text="👍 Có")).to_have_count(1)
    assert "feedback_helpful" not in log.inner_text()
    expect(page.locator(".tl-typing")).to_be_hidden(timeout=ANSWER_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-answer.png"))

    # --- keyboard: Escape closes and gives focus back to the launcher; Enter reopens
    page.keyboard.press("Escape")
    expect(page.locator(".tl-panel")).to_be_hidden()
    expect(launcher).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".tl-panel")).to_be_visible()

    # --- reload: the same history again, nothing lost, nothing twice
    before = _messages(log)
    assert len(before) >= 4 and len({i for i, _ in before}) == len(before), before
    with page.expect_response(lambda r: "/webhooks/webchat/poll" in r.url and r.status == 200):
        page.reload()
    expect(page.locator(".tl-panel")).to_be_visible()  # it stays open across the reload
    expect(log.locator(".tl-msg[data-id]")).to_have_count(len(before))
    page.wait_for_timeout(1500)  # give a duplicate every chance to appear
    assert _messages(log) == before
    expect(log.locator(".tl-user[data-id]", has_text=QUESTION)).to_have_count(1)
    expect(log.locator(".tl-bot[data-id]", has_text="Cảm ơn bạn đã phản hồi")).to_have_count(1)

    # --- a dropped connection: the message waits, is retried, and arrives exactly once
    context.set_offline(True)
    box.fill("xin chào")
    box.press("Enter")
    expect(page.locator(".tl-status")).to_contain_text("Mất kết nối", timeout=30_000)
    expect(log.locator(".tl-pending", has_text="xin chào")).to_have_count(1)
    context.set_offline(False)
    expect(log.locator(".tl-user[data-id]", has_text="xin chào")).to_have_count(1, timeout=60_000)
    expect(log.locator(".tl-pending")).to_have_count(0)
    expect(page.locator(".tl-status")).to_be_hidden(timeout=60_000)
    expect(page.locator(".tl-typing")).to_be_hidden(timeout=ANSWER_MS)
    after_hello = _messages(log)
    assert len({i for i, _ in after_hello}) == len(after_hello)
    assert [t for _, t in after_hello].count("Bạn: xin chào") == 1, after_hello

    # --- HTML in a message is shown as text and never runs
    box.fill(ATTACK)
    box.press("Enter")
    mine = log.locator(".tl-user[data-id] .tl-text", has_text="onerror")
    expect(mine).to_have_count(1, timeout=30_000)
    assert mine.inner_text() == ATTACK
    assert log.locator("b").count() == 0
    assert log.locator("img").count() == 0
    expect(page.locator(".tl-typing")).to_be_hidden(timeout=ANSWER_MS)
    assert page.evaluate("() => typeof window.__xss") == "undefined"

    # --- the screenshot of a phone screen (360x740) for the README / review
    page.screenshot(path=str(SCREENSHOTS / "widget.png"))
    assert (SCREENSHOTS / "widget.png").stat().st_size > 5_000


def _messages(log) -> list[tuple[str, str]]:
    """(event id, text) of every rendered server event, in order."""
    items = log.locator(".tl-msg[data-id]")
    return [
        (items.nth(i).get_attribute("data-id"), " ".join(items.nth(i).inner_text().split()))
        for i in range(items.count())
    ]
