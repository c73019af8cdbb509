"""Tests for core/text/normalize.py (run in both the Rasa and the action venv)."""

import time
import unicodedata
from pathlib import Path

import pytest

from core.text import normalize as vn
from core.text.normalize import (
    expand_abbreviations,
    find_abbreviations,
    fold,
    load_abbreviations,
    nfc,
    normalize,
    normalize_tone_marks,
    strip_accents,
)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


# --------------------------------------------------------------- module hygiene


def test_module_imports_without_rasa_or_underthesea():
    source = Path(vn.__file__).read_text(encoding="utf-8")
    for banned in ("import rasa", "from rasa", "underthesea"):
        assert banned not in source


# ------------------------------------------------------------------------ nfc


def test_nfc_composes_nfd_and_keeps_nfc():
    assert nfc(nfd("Định danh điện tử")) == "Định danh điện tử"
    assert nfc("Định danh") == "Định danh"
    assert nfc("") == ""


# ----------------------------------------------------------------- tone marks


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("hoà", "hòa"),
        ("Toà", "Tòa"),
        ("TOÀ ÁN", "TÒA ÁN"),
        ("khoẻ", "khỏe"),
        ("Khoẻ", "Khỏe"),
        ("thuỷ", "thủy"),
        ("tuỳ", "tùy"),
        ("uỷ ban", "ủy ban"),
        ("Uỷ", "Ủy"),
        ("oà khóc", "òa khóc"),
        ("hòa", "hòa"),  # already traditional
        ("quý", "quý"),  # qu + y: mark stays on y
        ("quỳ", "quỳ"),
        ("hoàng", "hoàng"),  # final consonant: second vowel
        ("hòan thành", "hoàn thành"),  # misplaced before final consonant
        ("huỳnh", "huỳnh"),
        ("toán", "toán"),
        ("giữa", "giữa"),
        ("gìn giữ", "gìn giữ"),
        ("người", "người"),
        ("khuyến", "khuyến"),
        ("ngoài", "ngoài"),
        ("baì", "bài"),
    ],
)
def test_tone_marks_traditional(raw, expected):
    assert normalize_tone_marks(raw) == expected


def test_tone_marks_nfd_input_gives_nfc():
    assert normalize_tone_marks(nfd("Toà hoà khoẻ")) == "Tòa hòa khỏe"


def test_tone_marks_leave_non_vietnamese_alone():
    text = "Coffee Zoë café https://x.vn/hoà?a=1 abc123"
    out = normalize_tone_marks(text)
    assert out.startswith("Coffee Zoë café")
    assert out.endswith("abc123")


def test_tone_marks_preserve_length():
    text = "Toà án hoà giải, khoẻ, thuỷ, Uỷ ban, quý, HOÀ 😀"
    assert len(normalize_tone_marks(text)) == len(text)


# --------------------------------------------------------------------- accents


def test_strip_accents():
    assert strip_accents("Định danh") == "Dinh danh"
    assert strip_accents("Đăng ký tài khoản điện tử") == "Dang ky tai khoan dien tu"
    assert strip_accents(nfd("Hòa khỏe thủy")) == "Hoa khoe thuy"
    assert strip_accents("abc 123") == "abc 123"
    assert strip_accents("") == ""


# --------------------------------------------------------------- abbreviations


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("ko đc", "không được"),
        ("k biết", "không biết"),
        ("kh được", "không được"),
        ("hok bít", "không biết"),
        ("hông đc", "không được"),
        ("hong dc", "không được"),
        ("khum", "không"),
        ("quên tk", "quên tài khoản"),
        ("quên mk", "quên mật khẩu"),
        ("tk/mk", "tài khoản/mật khẩu"),
        ("sđt", "số điện thoại"),
        ("sdt", "số điện thoại"),
        ("đt", "điện thoại"),
        ("dt", "điện thoại"),
        ("cccd", "căn cước công dân"),
        ("cc", "căn cước"),
        ("dk", "đăng ký"),
        ("đk", "đăng ký"),
        ("đăng kí", "đăng ký"),
        ("vn eid", "vneid"),
        ("vn-eid", "vneid"),
        ("vneld", "vneid"),
        ("vnid", "vneid"),
        ("bhyt", "bảo hiểm y tế"),
        ("gplx", "giấy phép lái xe"),
        ("blx", "giấy phép lái xe"),
        ("dvc", "dịch vụ công"),
        ("nộp hs", "nộp hồ sơ"),
        ("ntn", "như thế nào"),
        ("cái j", "cái gì"),
        ("xong r", "xong rồi"),
        ("xong rùi", "xong rồi"),
        ("lm sao", "làm sao"),
        ("bt", "bình thường"),
        ("mún", "muốn"),
        ("ok", "ok"),
    ],
)
def test_expand_abbreviations(raw, expected):
    assert expand_abbreviations(raw) == expected


def test_abbreviations_case_insensitive_and_whole_token():
    assert expand_abbreviations("Ko Đc, quên MK") == "không được, quên mật khẩu"
    assert expand_abbreviations("VNEID VNeID VN  EID") == "vneid vneid vneid"
    # not inside longer tokens
    assert expand_abbreviations("tkb cccd2 okela") == "tkb cccd2 ok"
    assert expand_abbreviations("kho khoản") == "kho khoản"


def test_k_not_expanded_in_or_after_numbers():
    assert expand_abbreviations("nạp 100k") == "nạp 100k"
    assert expand_abbreviations("phí 100 k") == "phí 100 k"
    assert expand_abbreviations("50k ok k") == "50k ok không"
    assert normalize("Giá 100K nhé") == "giá 100k nhé"


def test_single_letters_e_a_not_expanded():
    assert expand_abbreviations("e hỏi a") == "e hỏi a"
    assert expand_abbreviations("mục a, b, c") == "mục a, b, c"


def test_v_z_only_sentence_final():
    assert expand_abbreviations("sao v?") == "sao vậy?"
    assert expand_abbreviations("lm sao z") == "làm sao vậy"
    assert expand_abbreviations("sao v 😢") == "sao vậy 😢"
    assert expand_abbreviations("mức v thì sao") == "mức v thì sao"
    assert expand_abbreviations("v") == "v"
    assert expand_abbreviations("v.v.") == "v.v."


def test_urls_and_emails_left_intact():
    url = "https://VNeID.gov.vn/TK/dk?k=ko&mk=1"
    assert normalize(f"Xem {url} nhé") == f"xem {url} nhé"
    assert normalize("Vào dichvucong.gov.vn/dk nha") == "vào dichvucong.gov.vn/dk nha"
    assert normalize("mail Ko.TK@gmail.com ko") == "mail Ko.TK@gmail.com không"
    assert find_abbreviations(f"{url} tk") == [(len(url) + 1, len(url) + 3, "tài khoản")]


def test_find_abbreviations_offsets():
    text = "Quên MK vn  eid, sao v?"
    found = find_abbreviations(text)
    assert [(text[s:e], exp) for s, e, exp in found] == [
        ("MK", "mật khẩu"),
        ("vn  eid", "vneid"),
        ("v", "vậy"),
    ]


def test_abbreviation_file_is_valid_and_lowercase():
    sections = load_abbreviations()
    assert set(sections) == {"always", "sentence_final", "not_after_number"}
    for entries in sections.values():
        for key, value in entries.items():
            assert key == key.lower() and value == value.strip()


def test_abbreviation_file_rejects_duplicates(tmp_path):
    bad = tmp_path / "abbr.yml"
    bad.write_text("always:\n  tk: tài khoản\n  tk: thẻ\n", encoding="utf-8")
    with pytest.raises(ValueError):
        load_abbreviations(bad)
    bad.write_text("always:\n  tk: a\nnot_after_number:\n  TK: b\n", encoding="utf-8")
    with pytest.raises(ValueError):
        load_abbreviations(bad)
    bad.write_text("sometimes:\n  tk: a\n", encoding="utf-8")
    with pytest.raises(ValueError):
        load_abbreviations(bad)


# ------------------------------------------------------------ normalize / fold


def test_normalize_pipeline():
    raw = "  Tôi  KO đc kích hoạt TK định danh,\tToà án  "
    assert normalize(raw) == "tôi không được kích hoạt tài khoản định danh, tòa án"
    assert normalize(nfd(raw)) == normalize(raw)


def test_normalize_without_expansion():
    assert normalize("Ko đc  Toà", expand=False) == "ko đc tòa"


def test_fold():
    assert fold("Đăng kí tk VNeID ntn?") == "dang ky tai khoan vneid nhu the nao?"
    assert fold("ĐỊNH DANH điện tử") == "dinh danh dien tu"
    assert fold(nfd("Hoà")) == fold("hòa") == "hoa"


def test_numbers_and_emoji_preserved():
    assert normalize("CCCD 001203012345 😀👍") == "căn cước công dân 001203012345 😀👍"
    assert normalize("sđt 0912 345 678") == "số điện thoại 0912 345 678"


@pytest.mark.parametrize("func", [normalize, fold, expand_abbreviations, strip_accents])
@pytest.mark.parametrize("text", ["", "   ", "😀", "\n\t"])
def test_empty_and_blank(func, text):
    out = func(text)
    assert isinstance(out, str)
    if func in (normalize, fold):
        assert out == text.strip()


def test_idempotent():
    text = "Toà án, ko đc, tk VNeID, 100k, https://a.vn/X sao v?"
    once = normalize(text)
    assert normalize(once) == once
    assert fold(fold(text)) == fold(text)


def test_long_input_is_fast():
    unit = "Tôi muốn kích hoạt tài khoản định danh điện tử mức 2 nhưng ko đc, sđt 0912 345 678. Hoà "
    long_text = (unit * 200)[:10_000]
    blob_cases = [
        long_text,
        "a" * 10_000,
        "k " * 5_000,
        " " * 10_000,
        "a." * 5_000,
        "@" * 10_000,
    ]
    normalize("warm up")
    start = time.perf_counter()
    for text in blob_cases:
        normalize(text)
        fold(text)
        find_abbreviations(text)
    assert time.perf_counter() - start < 3.0
    out = normalize(long_text)
    assert "không được" in out and "hòa" in out and "ko" not in out.split()
