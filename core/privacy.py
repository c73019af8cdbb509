"""What agents may see of a citizen's messages.

* ``redact_secrets``: passwords, OTPs and passcodes a citizen typed are replaced by ``[đã ẩn]``
  before anything is stored or shown (nobody, agents included, should ever need them).
* ``redact_user_text`` / ``mark_redacted``: the same rules applied by every channel at the edge, before
  a citizen's text reaches Rasa, the logs or a mailbox (intent payloads pass unchanged).
* ``mask_interaction_text``: ``mask_pii`` plus long numbers and e-mail addresses (the insights table).
* ``mask_secret``: a token shortened for logs.
* ``mask_pii``: 12-digit ID numbers (CCCD / số định danh) and phone numbers (0xxxxxxxxx,
  +84xxxxxxxxx) keep only their last 3 digits in what agents see by default; the stored text
  keeps them, so the agent handling the conversation can reveal them (audited).

Pure functions on strings, no third-party imports.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

REDACTED = "[đã ẩn]"

# Words that introduce a secret (accented and unaccented, teencode). Order: longer first.
_SECRET_WORDS = [
    r"mật\s*khẩu",
    r"mat\s*khau",
    r"mk",
    r"pass\s*word",
    r"password",
    r"passwd",
    r"pwd",
    r"pass\s*code",
    r"passcode",
    r"pass",
    r"mã\s*bảo\s*vệ",
    r"ma\s*bao\s*ve",
    r"mã\s*otp",
    r"ma\s*otp",
    r"otp",
    r"mã\s*xác\s*(?:thực|nhận|minh)",
    r"ma\s*xac\s*(?:thuc|nhan|minh)",
    r"mã\s*pin",
    r"ma\s*pin",
    r"pin",
    r"mã\s*kích\s*hoạt",
    r"ma\s*kich\s*hoat",
    r"mã\s*(?:gồm\s*)?\d\s*(?:số|chữ\s*số)",
    r"ma\s*(?:gom\s*)?\d\s*(?:so|chu\s*so)",
]
_KEYWORD = r"(?:" + "|".join(_SECRET_WORDS) + r")"
# Words between the keyword and the secret: "mật khẩu (mới) (của tôi) là: abc".
_CONNECTOR = (
    r"(?:\s*(?:mới|moi|cũ|cu|hiện\s*tại|hien\s*tai|của\s*(?:tôi|em|mình|tui|tớ|anh|chị)|"
    r"cua\s*(?:toi|em|minh|tui|to|anh|chi)|vừa\s*nhận|vua\s*nhan|nhận\s*được|nhan\s*duoc))*"
)
_ASSIGN = r"(?:\s*(?:là|la|:|=|is|:=)\s*|\s+)"
_SECRET_TOKEN = r"(?P<secret>[^\s,;]+)"
_SECRET = re.compile(
    r"(?<![\w])(?P<kw>" + _KEYWORD + _CONNECTOR + r")(?P<assign>" + _ASSIGN + r")" + _SECRET_TOKEN, re.IGNORECASE
)
# Words after "mật khẩu là ..." that are part of a question, not a secret.
_NOT_SECRETS = {
    "gì",
    "gi",
    "sao",
    "j",
    "không",
    "khong",
    "ko",
    "k",
    "bao",
    "nhiêu",
    "nhieu",
    "đâu",
    "dau",
    "thế",
    "the",
    "nào",
    "nao",
    "như",
    "nhu",
    "bị",
    "bi",
    "đã",
    "da",
    "đang",
    "dang",
    "sai",
    "đúng",
    "dung",
    "thì",
    "thi",
    "mà",
    "ma",
    "và",
    "va",
    "hay",
    "hoặc",
    "hoac",
    "của",
    "cua",
    "để",
    "de",
    "cho",
    "trên",
    "tren",
    "vneid",
    "quên",
    "quen",
    "mới",
    "moi",
    "được",
    "duoc",
    "đc",
    "dc",
    "rồi",
    "roi",
    "ạ",
    "a",
    "nhé",
    "nhe",
    "nha",
    "vào",
    "vao",
    "lại",
    "lai",
    "nữa",
    "nua",
    "này",
    "nay",
    "đó",
    "do",
    "kia",
    "nhưng",
    "nhung",
    "bằng",
    "bang",
    "với",
    "voi",
    "ở",
    "o",
    "khi",
    "lúc",
    "luc",
    "mấy",
    "may",
    "số",
    "so",
    "chữ",
    "chu",
    "có",
    "co",
    "phải",
    "phai",
    "cần",
    "can",
    "nhập",
    "nhap",
    "gửi",
    "gui",
    "về",
    "ve",
    "tới",
    "toi",
}
# A message that talks about codes: bare 4-8 digit numbers in it are treated as codes too.
_CODE_CONTEXT = re.compile(
    r"(?<![\w])(?:otp|passcode|pass|mật\s*khẩu|mat\s*khau|mk|pin|code|mã\s*bảo\s*vệ|"
    r"mã\s*xác\s*(?:thực|nhận))(?![\w])",
    re.IGNORECASE,
)
# "mã 482913" alone is probably a code too, unless the message is about a dossier or a payment.
_WEAK_CODE_CONTEXT = re.compile(r"(?<![\w])(?:mã|ma)(?![\w])", re.IGNORECASE)
_DOSSIER_CONTEXT = re.compile(
    r"hồ\s*sơ|ho\s*so|biên\s*nhận|bien\s*nhan|giao\s*dịch|giao\s*dich|hóa\s*đơn|hoá\s*đơn", re.IGNORECASE
)
_BARE_CODE = re.compile(r"(?<![\d\w*])\d{4,8}(?![\d\w*])")

# 12-digit ID numbers, also written in groups of 3 or 4 ("079 123 456 789").
_ID_NUMBER = re.compile(r"(?<![\d+])(?:\d{12}|\d{3}(?:[ .]\d{3}){3}|\d{4}(?:[ .]\d{4}){2})(?![\d])")
# Phone numbers: 0 + 9 digits, +84 / 84 + 9 digits, optionally grouped with spaces, dots or dashes.
_PHONE = re.compile(r"(?<![\d+\w])(?:\+\s?84|84|0)(?:[\s.-]?\d){9}(?![\d])")


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def redact_secrets(text: str | None) -> str:
    """Replace passwords / OTPs / passcodes in ``text`` by ``[đã ẩn]``.

    >>> redact_secrets("mật khẩu là abc123 mà không vào được")
    'mật khẩu là [đã ẩn] mà không vào được'
    >>> redact_secrets("OTP 123456")
    'OTP [đã ẩn]'
    >>> redact_secrets("quên mật khẩu thì làm sao")
    'quên mật khẩu thì làm sao'
    """
    if not text:
        return text or ""
    text = _nfc(text)

    def replace(match: re.Match) -> str:
        secret = match.group("secret")
        assign = match.group("assign")
        word = secret.strip(".!?…)(\"'").lower()
        explicit = assign.strip() != ""  # "là", ":", "=" : the next word is the secret
        has_digit = any(c.isdigit() for c in secret)
        if word in _NOT_SECRETS and not has_digit:
            return match.group(0)
        if not explicit and not has_digit and not re.search(r"[^\w\s]", word):
            # "otp sai", "mk cũ" without "là": only a token with digits or symbols is a secret
            return match.group(0)
        if secret == REDACTED or secret.startswith("[đã"):
            return match.group(0)
        return match.group("kw") + assign + REDACTED

    text = _SECRET.sub(replace, text)
    if _CODE_CONTEXT.search(text) or (_WEAK_CODE_CONTEXT.search(text) and not _DOSSIER_CONTEXT.search(text)):
        text = _BARE_CODE.sub(lambda m: m.group(0) if _looks_like_year(m.group(0)) else REDACTED, text)
    return text


def _looks_like_year(digits: str) -> bool:
    return len(digits) == 4 and digits[:2] in ("19", "20")


def _keep_last(match: re.Match, keep: int = 3) -> str:
    raw = match.group(0)
    digits = [c for c in raw if c.isdigit()]
    shown = "".join(digits[-keep:])
    return "*" * (len(digits) - keep) + shown


def mask_pii(text: str | None) -> str:
    """Hide all but the last 3 digits of ID and phone numbers.

    >>> mask_pii("cccd 079123456789, sđt 0912345678")
    'cccd *********789, sđt *******678'
    """
    if not text:
        return text or ""
    text = _ID_NUMBER.sub(_keep_last, _nfc(text))
    return _PHONE.sub(_keep_last, text)


def normalize_phone(text: str | None) -> str | None:
    """A Vietnamese phone number as 0xxxxxxxxx, or None.

    >>> normalize_phone("+84 912 345 678")
    '0912345678'
    """
    if not text:
        return None
    raw = text.strip()
    digits = re.sub(r"[\s.()-]", "", raw)
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits if re.fullmatch(r"0\d{9}", digits) else None


def mask_phone(phone: str | None) -> str:
    return mask_pii(phone or "")


# Beyond mask_pii (12-digit IDs, phone numbers): any other run of 9+ digits (old 9-digit CMND, social
# insurance, tax or account numbers) and e-mail addresses; nobody needs them to decide what to write.
_LONG_NUMBER = re.compile(r"(?<![\d*])\d(?:[ .-]?\d){8,}(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def mask_interaction_text(text: str) -> str:
    """``mask_pii`` plus long numbers and e-mail addresses, for the interactions table.

    >>> mask_interaction_text("cmnd 123456789, sđt 0912345678, mail a.b@x.vn")
    'cmnd ******789, sđt *******678, mail [email]'
    """
    text = mask_pii(text)
    text = _LONG_NUMBER.sub(lambda m: "*" * (sum(c.isdigit() for c in m.group(0)) - 3) + m.group(0)[-3:], text)
    return _EMAIL.sub("[email]", text)


# UserMessage metadata key set to True when something was redacted from the text.
REDACTED_METADATA_KEY = "redacted"

# A button payload in Rasa's syntax: "/intent", "/intent@0.9", '/intent{"entity": "value"}'.
# Rasa's own pattern allows spaces in the intent name; ours do not, so that typed text such
# as "/ mật khẩu là abc" is not mistaken for a payload.
_INTENT_PAYLOAD = re.compile(r"^/[^\s{@/]+(?:@[0-9.]+)?(?:\{.*\})?$", re.DOTALL)


def is_intent_payload(text: str) -> bool:
    """True if ``text`` is a Rasa intent payload (what buttons send), not typed text."""
    return bool(_INTENT_PAYLOAD.match(text.strip()))


def redact_user_text(text: Any) -> tuple[Any, bool]:
    """``(text with passwords/OTPs/passcodes replaced by [đã ẩn], whether any was)``.

    Intent payloads (``/request_human``, ``/choose_topic{"topic_id": ...}``) and
    non-strings are returned unchanged; so is text with nothing to redact (it is not
    even NFC-normalised then). Uses :func:`redact_secrets`, the same rules as the
    handoff store.
    """
    if not isinstance(text, str) or not text or is_intent_payload(text):
        return text, False
    redacted = redact_secrets(text)
    before = unicodedata.normalize("NFC", text).count(REDACTED)
    if redacted.count(REDACTED) > before:
        return redacted, True
    return text, False


def mark_redacted(metadata: dict[str, Any] | None, redacted: bool) -> dict[str, Any] | None:
    """Sets ``metadata["redacted"] = True`` when ``redacted``; otherwise removes a stale one.

    The flag is the channel's to set: a client-supplied ``"redacted"`` key is dropped.
    Returns the (possibly new) metadata dict; non-dict metadata is returned unchanged.
    """
    if redacted:
        if metadata is None:
            return {REDACTED_METADATA_KEY: True}
        if isinstance(metadata, dict):
            return {**metadata, REDACTED_METADATA_KEY: True}
        return metadata
    if isinstance(metadata, dict) and REDACTED_METADATA_KEY in metadata:
        return {k: v for k, v in metadata.items() if k != REDACTED_METADATA_KEY}
    return metadata


def mask_secret(value: str | None) -> str:
    """Masks a token for logging ("abcd…wxyz")."""
    if not value:
        return "<none>"
    if len(value) <= 10:
        return "***"
    return f"{value[:4]}…{value[-4:]}"
