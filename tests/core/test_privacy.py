"""Masking of personal numbers and redaction of secrets; urgent words; working hours."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from handoff.hours import Schedule
from core.privacy import REDACTED, mask_pii, normalize_phone, redact_secrets
from core.safety import urgent_messages, urgent_services

VN = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.mark.parametrize(
    "text, secret",
    [
        ("mật khẩu là abc123", "abc123"),
        ("Mật khẩu mới: Xyz!2 nhưng vẫn lỗi", "Xyz!2"),
        ("mat khau cua toi la hoahong99", "hoahong99"),
        ("mk: Abc@123", "Abc@123"),
        ("OTP 123456", "123456"),
        ("otp: 482913 mà báo sai", "482913"),
        ("ma otp la 482913", "482913"),
        ("mã 6 số 111111", "111111"),
        ("mã gồm 6 chữ số 908172", "908172"),
        ("passcode 135790 bị khoá", "135790"),
        ("mã bảo vệ: 654321", "654321"),
        ("pass la matkhau", "matkhau"),
        ("tôi nhận được mã 482913 nhưng nhập không được", "482913"),
        ("mã xác thực 777111", "777111"),
    ],
)
def test_secrets_are_redacted(text, secret):
    redacted = redact_secrets(text)
    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        "quên mật khẩu thì làm sao",
        "mật khẩu là gì vậy",
        "không nhận được mã OTP",
        "otp sai hoài",
        "đổi mật khẩu VNeID thế nào",
        "mã hồ sơ 12345678 chưa có kết quả",
        "năm 2024 tôi đã đăng ký",
    ],
)
def test_questions_about_secrets_are_kept(text):
    assert redact_secrets(text) == text


def test_masking_keeps_the_last_three_digits():
    text = "CCCD 079123456789, số cũ 079 123 456 789, sđt 0912345678, +84 912 345 678, 84912345678, 0912.345.678"
    masked = mask_pii(text)
    for raw in ("079123456789", "0912345678", "912 345", "84912345678", "0912.345"):
        assert raw not in masked
    assert masked.count("*********789") == 2
    assert masked.count("678") == 4
    assert mask_pii("hồ sơ 000.00.00.H00 ngày 12/05/2025") == "hồ sơ 000.00.00.H00 ngày 12/05/2025"


def test_normalize_phone():
    assert normalize_phone("0912 345 678") == "0912345678"
    assert normalize_phone("+84912345678") == "0912345678"
    assert normalize_phone("84912345678") == "0912345678"
    assert normalize_phone("12345") is None and normalize_phone("091234567") is None


@pytest.mark.parametrize(
    "text, first",
    [
        ("nhà hàng xóm đang cháy", "114"),
        ("có người bị tai nạn xe máy", "115"),
        ("cần gọi cấp cứu", "115"),
        ("tôi bị đánh ở phường", "113"),
        ("có người đe dọa tôi", "113"),
        ("họ đe doạ giết tôi", "113"),
        ("cứu với", "115"),
        ("có đứa nhỏ vừa trượt chân xuống kênh sau nhà", "114"),
        ("con toi bi nga xuong ao sau nha", "114"),
    ],
)
def test_urgent_words_point_to_emergency_numbers(text, first):
    services = urgent_services(text)
    assert services[0] == first and sorted(services) == ["113", "114", "115"]
    message = urgent_messages(text)[0]["text"]
    assert "113" in message and "114" in message and "115" in message


@pytest.mark.parametrize("text", ["quên mật khẩu VNeID", "đang chạy xe thì nhận OTP", "đăng ký tạm trú", ""])
def test_ordinary_questions_are_not_urgent(text):
    assert urgent_services(text) == [] and urgent_messages(text) == []


def test_working_hours():
    s = Schedule.parse("mon-fri 07:30-11:30,13:00-17:00; sat 08:00-11:00", "2026-04-30, 2026-05-01")
    assert s.is_open(datetime(2026, 4, 29, 7, 30, tzinfo=VN))  # Wednesday
    assert not s.is_open(datetime(2026, 4, 29, 7, 29, tzinfo=VN))
    assert not s.is_open(datetime(2026, 4, 29, 12, 0, tzinfo=VN))  # lunch
    assert not s.is_open(datetime(2026, 4, 29, 17, 0, tzinfo=VN))
    assert not s.is_open(datetime(2026, 4, 30, 9, 0, tzinfo=VN))  # holiday
    assert s.is_open(datetime(2026, 5, 2, 9, 0, tzinfo=VN))  # Saturday morning
    assert not s.is_open(datetime(2026, 5, 3, 9, 0, tzinfo=VN))  # Sunday
    # the time zone matters: 01:00 UTC is 08:00 in Hồ Chí Minh City
    assert s.is_open(datetime(2026, 4, 29, 1, 0, tzinfo=ZoneInfo("UTC")))
    assert "Thứ Hai – Thứ Sáu, 07:30–11:30, 13:00–17:00" in s.describe_vi()
    assert "trừ ngày lễ" in s.describe_vi()


def test_always_open_and_wrapping_days():
    assert Schedule.parse("24/7").is_open(datetime(2026, 5, 3, 3, 0, tzinfo=VN))
    assert Schedule.parse("daily 00:00-24:00").describe_vi() == "mọi ngày, 24 giờ"
    s = Schedule.parse("sat-mon 08:00-12:00")
    assert s.is_open(datetime(2026, 5, 3, 9, 0, tzinfo=VN)) and s.is_open(datetime(2026, 5, 4, 9, 0, tzinfo=VN))
    assert not s.is_open(datetime(2026, 5, 5, 9, 0, tzinfo=VN))
    assert not Schedule.parse("").is_open()


@pytest.mark.parametrize(
    "spec", ["mon-fri", "mon-fri 7-17", "funday 08:00-12:00", "mon 17:00-08:00", "mon 25:00-26:00"]
)
def test_bad_hours_are_rejected_with_a_clear_message(spec):
    with pytest.raises(ValueError, match="HANDOFF_HOURS"):
        Schedule.parse(spec)


def test_bad_holidays_and_time_zone_are_rejected():
    with pytest.raises(ValueError, match="HANDOFF_HOLIDAYS"):
        Schedule.parse("24/7", "30/04/2026")
    with pytest.raises(ValueError, match="HANDOFF_TZ"):
        Schedule.parse("24/7", "", "Mars/Olympus")


@pytest.mark.parametrize(
    "text",
    ["hồ sơ bị chìm mất không thấy ai xử lý", "nộp hồ sơ xuống phường thì bao lâu", "đăng ký tạm trú ở hồ chí minh"],
)
def test_ordinary_questions_raise_no_alarm(text):
    assert urgent_services(text) == []
