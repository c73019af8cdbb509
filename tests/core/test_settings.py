"""core/settings.py: hotline defaults that are true today, and how replies name the hotline."""

from __future__ import annotations

import pytest

from core.settings import Hotline, load_settings

VARIABLES = ("HOTLINE_NUMBER", "HOTLINE_NAME", "HOTLINE_HOURS", "PROVINCE_NAME")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_merged_city_and_no_hours():
    hotline = load_settings().hotline
    assert (hotline.number, hotline.name, hotline.hours, hotline.province) == (
        "1022",
        "Tổng đài 1022",
        "",
        "Thành phố Hồ Chí Minh",
    )
    assert hotline.contact == "Tổng đài 1022"  # the number once, no "(24/7)"


def test_configured_values_win_and_empty_means_default(monkeypatch):
    monkeypatch.setenv("HOTLINE_HOURS", "7h30-17h, thứ 2 - thứ 6")
    monkeypatch.setenv("PROVINCE_NAME", "  ")
    hotline = load_settings().hotline
    assert hotline.hours == "7h30-17h, thứ 2 - thứ 6" and hotline.province == "Thành phố Hồ Chí Minh"
    assert hotline.contact == "Tổng đài 1022 (7h30-17h, thứ 2 - thứ 6)"


@pytest.mark.parametrize(
    ("hotline", "expected"),
    [
        (Hotline(name="Tổng đài Thử", number="9999"), "Tổng đài Thử (số 9999)"),
        (Hotline(name="Tổng đài Thử", number="9999", hours="24/7"), "Tổng đài Thử (số 9999, 24/7)"),
        (Hotline(hours="24/7"), "Tổng đài 1022 (24/7)"),
    ],
)
def test_contact_names_the_number_unless_the_name_has_it(hotline, expected):
    assert hotline.contact == expected
