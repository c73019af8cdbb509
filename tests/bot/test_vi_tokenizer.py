"""Tests for bot/components/vi_tokenizer.py (Rasa venv: rasa 3.6 + underthesea)."""

import time
import unicodedata
from pathlib import Path

import pytest

pytest.importorskip("rasa")
pytest.importorskip("underthesea")

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components import vi_tokenizer
from bot.components.vi_tokenizer import VietnameseTokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return VietnameseTokenizer.create({**VietnameseTokenizer.get_default_config()}, None, None, None)


def tokenize(tokenizer, text):
    return tokenizer.tokenize(Message.build(text=text), TEXT)


def assert_valid(tokens, text):
    """Offsets point into ``text``, in order, non-overlapping, never blank."""
    previous_end = 0
    for token in tokens:
        assert 0 <= token.start < token.end <= len(text), token
        assert token.start >= previous_end, token
        surface = text[token.start : token.end]
        assert surface == surface.strip() and surface
        assert " " not in token.text
        previous_end = token.end


def nfd(text):
    return unicodedata.normalize("NFD", text)


# (message, [(token text, original surface), ...])
GOLDEN = [
    (
        "Tôi muốn kích hoạt tài khoản định danh điện tử",
        [
            ("tôi", "Tôi"),
            ("muốn", "muốn"),
            ("kích_hoạt_tài_khoản", "kích hoạt tài khoản"),
            ("định_danh", "định danh"),
            ("điện_tử", "điện tử"),
        ],
    ),
    (
        "toi muon kich hoat tai khoan dinh danh dien tu",
        [
            ("toi", "toi"),
            ("muon", "muon"),
            ("kich", "kich"),
            ("hoat", "hoat"),
            ("tai_khoan", "tai khoan"),
            ("dinh_danh", "dinh danh"),
            ("dien", "dien"),
            ("tu", "tu"),
        ],
    ),
    (
        "Mình đăng ký VNeID 😀 mà không được 🙏",
        [
            ("mình", "Mình"),
            ("đăng_ký", "đăng ký"),
            ("vneid", "VNeID"),
            ("mà", "mà"),
            ("không", "không"),
            ("được", "được"),
        ],
    ),
    (
        "Xem hướng dẫn tại https://vneid.gov.vn/huong-dan?id=2 nhé",
        [
            ("xem", "Xem"),
            ("hướng_dẫn", "hướng dẫn"),
            ("tại", "tại"),
            (
                "https://vneid.gov.vn/huong-dan?id=2",
                "https://vneid.gov.vn/huong-dan?id=2",
            ),
            ("nhé", "nhé"),
        ],
    ),
    (
        "Số CCCD của tôi là 001203012345",
        [
            ("số", "Số"),
            ("căn_cước_công_dân", "CCCD"),
            ("của", "của"),
            ("tôi", "tôi"),
            ("là", "là"),
            ("001203012345", "001203012345"),
        ],
    ),
    (
        "Gọi cho tôi số 0912 345 678  nhé",
        [
            ("gọi", "Gọi"),
            ("cho", "cho"),
            ("tôi", "tôi"),
            ("số", "số"),
            ("0912", "0912"),
            ("345", "345"),
            ("678", "678"),
            ("nhé", "nhé"),
        ],
    ),
    (
        "ko đc, quên tk r",
        [
            ("không", "ko"),
            ("được", "đc"),
            ("quên", "quên"),
            ("tài_khoản", "tk"),
            ("rồi", "r"),
        ],
    ),
    (
        "tk vneid ko đăng nhập đc",
        [
            ("tài_khoản", "tk"),
            ("vneid", "vneid"),
            ("không", "ko"),
            ("đăng_nhập", "đăng nhập"),
            ("được", "đc"),
        ],
    ),
    (
        "vn eid bị lỗi j v?",
        [
            ("vneid", "vn eid"),
            ("bị", "bị"),
            ("lỗi", "lỗi"),
            ("gì", "j"),
            ("vậy", "v"),
        ],
    ),
    (
        "nạp 100k đc ko",
        [("nạp", "nạp"), ("100k", "100k"), ("được", "đc"), ("không", "ko")],
    ),
    (
        "Toà án hoà giải",
        [("tòa_án", "Toà án"), ("hòa", "hoà"), ("giải", "giải")],
    ),
    (
        "Cho mình hỏi , làm  lại   CCCD ở đâu ?",
        [
            ("cho", "Cho"),
            ("mình", "mình"),
            ("hỏi", "hỏi"),
            ("làm", "làm"),
            ("lại", "lại"),
            ("căn_cước_công_dân", "CCCD"),
            ("ở", "ở"),
            ("đâu", "đâu"),
        ],
    ),
]


@pytest.mark.parametrize("text, expected", GOLDEN, ids=[g[0][:30] for g in GOLDEN])
def test_golden(tokenizer, text, expected):
    tokens = tokenize(tokenizer, text)
    assert [(t.text, text[t.start : t.end]) for t in tokens] == expected
    assert_valid(tokens, text)


def test_exact_offsets(tokenizer):
    text = "Tôi muốn kích hoạt tài khoản định danh điện tử"
    tokens = tokenize(tokenizer, text)
    assert [(t.start, t.end) for t in tokens] == [
        (0, 3),
        (4, 8),
        (9, 28),
        (29, 38),
        (39, 46),
    ]
    text = "sđt 0912 345 678  ko đc"
    tokens = tokenize(tokenizer, text)
    assert [(t.text, t.start, t.end) for t in tokens] == [
        ("số_điện_thoại", 0, 3),
        ("0912", 4, 8),
        ("345", 9, 12),
        ("678", 13, 16),
        ("không", 18, 20),
        ("được", 21, 23),
    ]


@pytest.mark.parametrize("text, expected", GOLDEN, ids=[g[0][:30] for g in GOLDEN])
def test_nfd_input_maps_back_to_original(tokenizer, text, expected):
    decomposed = nfd(text)
    tokens = tokenize(tokenizer, decomposed)
    assert [t.text for t in tokens] == [e[0] for e in expected]
    surfaces = [decomposed[t.start : t.end] for t in tokens]
    assert surfaces == [nfd(e[1]) for e in expected]
    assert_valid(tokens, decomposed)


def test_nfd_offsets_differ_from_nfc(tokenizer):
    decomposed = nfd("Tôi muốn kích hoạt")
    tokens = tokenize(tokenizer, decomposed)
    assert [(t.text, t.start, t.end) for t in tokens] == [
        ("tôi", 0, 4),
        ("muốn", 5, 11),
        ("kích_hoạt", 12, len(decomposed)),
    ]


def test_long_message_finishes_and_is_covered(tokenizer, monkeypatch):
    unit = "Tôi muốn kích hoạt tài khoản định danh điện tử mức 2 nhưng ko đc, sđt 0912 345 678. "
    text = (unit * 200)[:10_000]
    import underthesea

    seen = []
    real = underthesea.word_tokenize

    def spy(sentence, *args, **kwargs):
        seen.append(len(sentence))
        return real(sentence, *args, **kwargs)

    monkeypatch.setattr(underthesea, "word_tokenize", spy)
    started = time.perf_counter()
    tokens = tokenize(tokenizer, text)
    assert time.perf_counter() - started < 10
    assert seen and max(seen) <= vi_tokenizer.SEGMENTER_MAX_CHARS
    assert_valid(tokens, text)
    assert len(tokens) > 1500
    assert tokens[-1].end >= len(text) - 5  # the tail beyond the cap is tokenised
    texts = {t.text for t in tokens}
    # head: segmented words; tail (after the cap): one token per syllable
    assert {"không", "được", "số_điện_thoại", "kích_hoạt_tài_khoản"} <= texts
    assert {"kích", "hoạt"} <= {t.text for t in tokens[-20:]}
    assert "ko" not in texts


@pytest.mark.parametrize(
    "text",
    [
        "a" * 10_000,
        "😀" * 10_000,
        "(" * 10_000,
        "k " * 5_000,
        nfd("Hoà định danh ") * 700,
    ],
)
def test_pathological_long_inputs(tokenizer, text):
    started = time.perf_counter()
    tokens = tokenize(tokenizer, text)
    assert time.perf_counter() - started < 10
    assert tokens
    assert_valid(tokens, text)


@pytest.mark.parametrize("text", ["", " ", "   \n\t "])
def test_empty_and_whitespace(tokenizer, text):
    assert tokenize(tokenizer, text) == []


@pytest.mark.parametrize("text", ["😀", " 👍👍 ", "???", ":)"])
def test_emoji_or_punctuation_only_gives_one_token(tokenizer, text):
    tokens = tokenize(tokenizer, text)
    assert len(tokens) == 1
    assert text[tokens[0].start : tokens[0].end] == text.strip()


def test_emoji_and_punctuation_tokens_dropped(tokenizer):
    text = "ok 😀 !!! vneid 🙏"
    tokens = tokenize(tokenizer, text)
    assert [t.text for t in tokens] == ["ok", "vneid"]


def test_letters_never_lose_all_tokens(tokenizer, monkeypatch):
    import underthesea

    def broken(*args, **kwargs):
        raise RuntimeError("model missing")

    monkeypatch.setattr(underthesea, "word_tokenize", broken)
    text = "quên mk VNeID, 100k"
    tokens = tokenize(tokenizer, text)
    assert [(t.text, text[t.start : t.end]) for t in tokens] == [
        ("quên", "quên"),
        ("mật_khẩu", "mk"),
        ("vneid", "VNeID"),
        ("100k", "100k"),
    ]


def test_segmenter_output_that_cannot_be_aligned(tokenizer, monkeypatch):
    import underthesea

    monkeypatch.setattr(underthesea, "word_tokenize", lambda *a, **k: ["tôi", "XYZ", "muốn"])
    text = "tôi muốn đăng ký"
    tokens = tokenize(tokenizer, text)
    assert [t.text for t in tokens] == ["tôi", "muốn", "đăng", "ký"]
    assert_valid(tokens, text)


def test_process_sets_rasa_tokens(tokenizer):
    message = Message.build(text="Quên mk VNeID", intent="forgot_password")
    training = TrainingData([message])
    tokenizer.process_training_data(training)
    assert [t.text for t in message.get(TOKENS_NAMES[TEXT])] == [
        "quên",
        "mật_khẩu",
        "vneid",
    ]
    assert [t.text for t in message.get(TOKENS_NAMES[INTENT])] == ["forgot_password"]

    incoming = Message.build(text="ko đc")
    tokenizer.process([incoming])
    assert [t.text for t in incoming.get(TOKENS_NAMES[TEXT])] == ["không", "được"]


def test_registered_as_message_tokenizer():
    registered = DefaultV1Recipe._registered_components["VietnameseTokenizer"]
    assert registered.clazz is VietnameseTokenizer
    assert DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER in registered.types
    assert registered.is_trainable is False


def test_module_import_does_not_load_underthesea():
    source = Path(vi_tokenizer.__file__).read_text(encoding="utf-8")
    top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not [line for line in top_level if "underthesea" in line]
