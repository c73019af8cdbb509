"""The Zalo OA channel's output: splitting, buttons, errors, token refresh, configuration, dry run."""

import asyncio
import json
import logging
from pathlib import Path

import pytest
from aioresponses import aioresponses
from channel_testkit import build_app
from zalo_testkit import (
    APP_ID,
    APP_SECRET,
    OAUTH_KEY,
    OK,
    SEND_KEY,
    WEBHOOK,
    event,
    make_config,
    sent_bodies,
    signed,
)

from bot.channels.delivery import NUMBERED_CHOICE_HINT
from bot.channels.zalo import (
    MAX_TEXT_LENGTH,
    ZALO_OAUTH_URL,
    ZALO_SEND_URL,
    ZaloConfig,
    ZaloInput,
    ZaloOutput,
)
from bot.channels.zalo_tokens import ZaloTokenStore

pytestmark = pytest.mark.asyncio


# --------------------------------------------------------------------------- #
# Output: splitting, buttons
# --------------------------------------------------------------------------- #


async def test_long_text_split_on_boundaries(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    output = ZaloOutput(config, ZaloTokenStore(config))
    sentence = "Công dân mang theo giấy tờ tùy thân khi đến làm thủ tục. "
    text = sentence * 80  # ~4,600 characters
    assert len(text) > 2 * MAX_TEXT_LENGTH
    with aioresponses() as m:
        m.post(ZALO_SEND_URL, payload=OK, repeat=True)
        assert await output.send_text_message("u1", text) is True
        bodies = sent_bodies(m)
    parts = [b["message"]["text"] for b in bodies]
    assert len(parts) == 3
    assert all(len(p) <= MAX_TEXT_LENGTH for p in parts)
    assert all(p.endswith("thủ tục.") for p in parts)  # cut at sentence ends
    assert " ".join(parts) == text.strip()


async def test_buttons_up_to_five_use_zalo_template(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    output = ZaloOutput(config, ZaloTokenStore(config))
    buttons = [
        {"title": "Cấp căn cước", "payload": "/ask_cccd"},
        {"title": "Đăng ký VNeID", "payload": '/ask_vneid{"level":"2"}'},
        {"title": "Mở trang", "url": "https://dichvucong.gov.vn"},
    ]
    with aioresponses() as m:
        m.post(ZALO_SEND_URL, payload=OK)
        await output.send_response("u1", {"text": "Bạn cần gì?", "buttons": buttons})
        bodies = sent_bodies(m)
    assert bodies == [
        {
            "recipient": {"user_id": "u1"},
            "message": {
                "text": "Bạn cần gì?",
                "attachment": {
                    "type": "template",
                    "payload": {
                        "buttons": [
                            {
                                "title": "Cấp căn cước",
                                "type": "oa.query.show",
                                "payload": "/ask_cccd",
                            },
                            {
                                "title": "Đăng ký VNeID",
                                "type": "oa.query.show",
                                "payload": '/ask_vneid{"level":"2"}',
                            },
                            {
                                "title": "Mở trang",
                                "type": "oa.open.url",
                                "payload": {"url": "https://dichvucong.gov.vn"},
                            },
                        ]
                    },
                },
            },
        }
    ]


async def test_more_than_five_buttons_become_numbered_list(tmp_path: Path) -> None:
    channel = ZaloInput(make_config(tmp_path))
    _, agent, client = build_app(channel)
    output = channel.get_output_channel()
    buttons = [{"title": f"Lựa chọn {i}", "payload": f"/choice_{i}"} for i in range(1, 7)]
    with aioresponses() as m:
        m.post(ZALO_SEND_URL, payload=OK)
        await output.send_text_with_buttons("user-1", "Chọn thủ tục:", buttons)
        bodies = sent_bodies(m)
    message = bodies[0]["message"]
    assert "attachment" not in message
    lines = message["text"].splitlines()
    assert lines[0] == "Chọn thủ tục:"
    assert NUMBERED_CHOICE_HINT in lines
    assert lines[-6:] == [f"{i}. Lựa chọn {i}" for i in range(1, 7)]

    # The user answers "2" -> Rasa receives the payload of option 2.
    await client.post(WEBHOOK, **signed(event(text="2", msg_id="answer-1")))
    await channel.wait_idle()
    assert agent.messages[-1].text == "/choice_2"
    # The mapping is consumed: a later "2" is plain text.
    await client.post(WEBHOOK, **signed(event(text="2", msg_id="answer-2")))
    await channel.wait_idle()
    assert agent.messages[-1].text == "2"


async def test_too_long_button_title_falls_back_to_list(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    output = ZaloOutput(config, ZaloTokenStore(config))
    buttons = [
        {"title": "x" * 101, "payload": "/a"},
        {"title": "ngắn", "payload": "/b"},
    ]
    with aioresponses() as m:
        m.post(ZALO_SEND_URL, payload=OK)
        await output.send_text_with_buttons("u1", "Chọn:", buttons)
        bodies = sent_bodies(m)
    assert "attachment" not in bodies[0]["message"]
    assert "2. ngắn" in bodies[0]["message"]["text"]


async def test_long_text_with_buttons_puts_buttons_on_last_chunk(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    output = ZaloOutput(config, ZaloTokenStore(config))
    text = "Dòng hướng dẫn chi tiết.\n" * 120
    with aioresponses() as m:
        m.post(ZALO_SEND_URL, payload=OK, repeat=True)
        await output.send_text_with_buttons("u1", text, [{"title": "OK", "payload": "/affirm"}])
        bodies = sent_bodies(m)
    assert len(bodies) == 2
    assert "attachment" not in bodies[0]["message"]
    assert bodies[1]["message"]["attachment"]["payload"]["buttons"][0]["payload"] == "/affirm"
    assert all(len(b["message"]["text"]) <= MAX_TEXT_LENGTH for b in bodies)


# --------------------------------------------------------------------------- #
# Output: errors, token refresh
# --------------------------------------------------------------------------- #


async def test_error_not_zero_is_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(tmp_path)
    output = ZaloOutput(config, ZaloTokenStore(config))
    with aioresponses() as m:
        m.post(
            ZALO_SEND_URL,
            payload={"error": -213, "message": "User has not followed OA"},
        )
        ok = await output.send_text_message("u1", "Xin chào")
        assert m.requests.get(OAUTH_KEY) is None  # no refresh for other errors
    assert ok is False
    assert "-213" in caplog.text


async def test_http_problems_are_failures_not_crashes(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    output = ZaloOutput(config, ZaloTokenStore(config))
    with aioresponses() as m:
        m.post(ZALO_SEND_URL, status=502, body="<html>Bad gateway</html>")
        assert await output.send_text_message("u1", "a") is False
        m.post(ZALO_SEND_URL, exception=asyncio.TimeoutError())  # Python 3.10
        assert await output.send_text_message("u1", "b") is False
        m.post(ZALO_SEND_URL, payload={"message": "no error field"})
        assert await output.send_text_message("u1", "c") is False


async def test_token_expiry_refreshes_once_retries_and_persists(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    tokens = ZaloTokenStore(config)
    output = ZaloOutput(config, tokens)
    with aioresponses() as m:
        m.post(
            ZALO_SEND_URL,
            payload={"error": -216, "message": "Access token has expired"},
        )
        m.post(
            ZALO_OAUTH_URL,
            payload={
                "access_token": "access-2",
                "refresh_token": "refresh-2",
                "expires_in": "90000",
            },
        )
        m.post(ZALO_SEND_URL, payload=OK)
        ok = await output.send_text_message("u1", "Xin chào")
        send_calls = m.requests[SEND_KEY]
        refresh_calls = m.requests[OAUTH_KEY]

    assert ok is True
    assert [c.kwargs["headers"]["access_token"] for c in send_calls] == [
        "access-1",
        "access-2",
    ]
    assert len(refresh_calls) == 1
    assert refresh_calls[0].kwargs["data"] == {
        "refresh_token": "refresh-1",
        "app_id": APP_ID,
        "grant_type": "refresh_token",
    }
    assert refresh_calls[0].kwargs["headers"]["secret_key"] == APP_SECRET

    saved = json.loads((tmp_path / "zalo_tokens.json").read_text())
    assert saved["access_token"] == "access-2"
    assert saved["refresh_token"] == "refresh-2"
    assert (tmp_path / "zalo_tokens.json").stat().st_mode & 0o777 == 0o600

    # A restart with the same (old) configuration continues the chain from the file.
    restarted = ZaloTokenStore(make_config(tmp_path))
    assert (restarted.access_token, restarted.refresh_token) == (
        "access-2",
        "refresh-2",
    )


async def test_concurrent_expiry_uses_single_refresh(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    tokens = ZaloTokenStore(config)
    output = ZaloOutput(config, tokens)
    with aioresponses() as m:
        m.post(ZALO_SEND_URL, payload={"error": -216, "message": "expired"})
        m.post(ZALO_SEND_URL, payload={"error": -216, "message": "expired"})
        m.post(
            ZALO_OAUTH_URL,
            payload={"access_token": "access-2", "refresh_token": "refresh-2"},
        )
        m.post(ZALO_SEND_URL, payload=OK, repeat=True)
        results = await asyncio.gather(output.send_text_message("u1", "một"), output.send_text_message("u2", "hai"))
        # The single-use refresh token is spent exactly once.
        assert len(m.requests[OAUTH_KEY]) == 1
    assert results == [True, True]
    assert tokens.refresh_token == "refresh-2"


async def test_failed_refresh_gives_up_without_retry(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    output = ZaloOutput(config, ZaloTokenStore(config))
    with aioresponses() as m:
        m.post(ZALO_SEND_URL, payload={"error": -216, "message": "Access token is invalid"})
        m.post(
            ZALO_OAUTH_URL,
            payload={"error": -14014, "error_description": "Invalid refresh token"},
        )
        assert await output.send_text_message("u1", "Xin chào") is False
        assert len(m.requests[SEND_KEY]) == 1
    assert not (tmp_path / "zalo_tokens.json").exists()


async def test_retry_after_refresh_failing_is_failure(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    output = ZaloOutput(config, ZaloTokenStore(config))
    with aioresponses() as m:
        m.post(ZALO_SEND_URL, payload={"error": -216, "message": "expired"})
        m.post(
            ZALO_OAUTH_URL,
            payload={"access_token": "access-2", "refresh_token": "refresh-2"},
        )
        m.post(ZALO_SEND_URL, payload={"error": -216, "message": "expired"})
        assert await output.send_text_message("u1", "Xin chào") is False
        assert len(m.requests[SEND_KEY]) == 2  # one retry only
        assert len(m.requests[OAUTH_KEY]) == 1


async def test_reconfigured_refresh_token_beats_stale_file(tmp_path: Path) -> None:
    token_file = tmp_path / "zalo_tokens.json"
    token_file.write_text(json.dumps({"access_token": "file-a", "refresh_token": "file-r", "seed": "0" * 16}))
    store = ZaloTokenStore(make_config(tmp_path, access_token="new-a", refresh_token="new-r"))
    assert (store.access_token, store.refresh_token) == ("new-a", "new-r")

    # Without configured tokens the file is used.
    store = ZaloTokenStore(make_config(tmp_path, access_token=None, refresh_token=None))
    assert (store.access_token, store.refresh_token) == ("file-a", "file-r")


async def test_corrupt_token_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "zalo_tokens.json").write_text("{oops")
    store = ZaloTokenStore(make_config(tmp_path))
    assert store.access_token == "access-1"


# --------------------------------------------------------------------------- #
# Configuration, dry-run, out-of-band output
# --------------------------------------------------------------------------- #


async def test_dry_run_without_token_logs_instead_of_sending(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    channel = ZaloInput.from_credentials(None)  # fresh clone: nothing configured
    output = channel.get_output_channel()
    assert output.dry_run is True
    caplog.set_level(logging.DEBUG, logger="bot.channels.zalo")
    with aioresponses() as m:  # any real request would fail loudly here
        assert await output.send_text_message("u1", "Xin chào") is True
        assert m.requests == {}
    assert "[zalo dry-run]" in caplog.text


async def test_dry_run_flag_forces_dry_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ZALO_ACCESS_TOKEN", "real-token")
    monkeypatch.setenv("ZALO_DRY_RUN", "true")
    output = ZaloInput.from_credentials(None).get_output_channel()
    assert output.tokens.access_token == "real-token"
    assert output.dry_run is True


async def test_credentials_override_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZALO_APP_ID", "env-app")
    monkeypatch.setenv("ZALO_OA_SECRET_KEY", "env-secret")
    config = ZaloConfig.from_credentials({"app_id": "yml-app", "oa_secret_key": ""})
    assert config.app_id == "yml-app"
    assert config.oa_secret_key == "env-secret"  # empty value falls back to env
    assert config.dry_run is None
    assert config.token_file.endswith("zalo_tokens.json")


async def test_loaded_by_rasa_from_credentials_file(tmp_path: Path) -> None:
    from rasa.core.run import create_http_input_channels

    creds = tmp_path / "credentials.yml"
    creds.write_text("bot.channels.zalo.ZaloInput:\n  app_id: from-yml\n")
    (channel,) = create_http_input_channels(None, str(creds))
    assert isinstance(channel, ZaloInput)
    assert channel.name() == "zalo"
    assert channel.url_prefix() == "zalo"
    assert channel.config.app_id == "from-yml"


async def test_output_channel_for_out_of_band_messages(tmp_path: Path) -> None:
    """What Rasa's ``/conversations/{id}/execute?output_channel=zalo`` uses."""
    channel = ZaloInput(make_config(tmp_path))
    output = channel.get_output_channel()
    assert isinstance(output, ZaloOutput) and output.name() == "zalo"
    with aioresponses() as m:
        m.post(ZALO_SEND_URL, payload=OK, repeat=True)
        await output.send_response(
            "u9",
            {
                "text": "Cán bộ trả lời: hồ sơ đã được tiếp nhận.",
                "custom": {"human_agent": True},
            },
        )
        await output.send_response("u9", {"custom": {"human_agent": True, "text": "Tin thứ hai"}})
        assert await output.send_agent_message("u9", "Tin thứ ba") is True
        bodies = sent_bodies(m)
    assert [b["message"]["text"] for b in bodies] == [
        "Cán bộ trả lời: hồ sơ đã được tiếp nhận.",
        "Tin thứ hai",
        "Tin thứ ba",
    ]
