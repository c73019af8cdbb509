"""Urgent safety words: point the citizen to 113 / 114 / 115 at once.

A keyword check, on purpose: it must not depend on the NLU model, and a false alarm costs one
extra message (the bot still answers the question), while a missed emergency costs far more.
"""

from __future__ import annotations

import re
import unicodedata

POLICE, FIRE, MEDICAL = "113", "114", "115"

# (pattern, service). Accented and unaccented forms; word boundaries on Unicode letters.
_WORDS: list[tuple[str, str]] = [
    (r"cấp\s*cứu|cap\s*cuu|xe\s*cứu\s*thương|xe\s*cuu\s*thuong", MEDICAL),
    (r"ngất\s*xỉu|ngat\s*xiu|bất\s*tỉnh|bat\s*tinh|đột\s*quỵ|dot\s*quy|đau\s*tim|chảy\s*máu|chay\s*mau|"
     r"khó\s*thở|kho\s*tho|ngộ\s*độc|ngo\s*doc|đuối\s*nước|duoi\s*nuoc|sắp\s*sinh|tự\s*tử|tu\s*tu|tự\s*sát|"
     r"tu\s*sat|muốn\s*chết|muon\s*chet", MEDICAL),
    (r"tai\s*nạn|tai\s*nan", MEDICAL),
    (r"cháy|hỏa\s*hoạn|hoả\s*hoạn|hoa\s*hoan|chay\s*nha|bi\s*chay|dang\s*chay\s*nha|nổ\s*bình\s*ga|no\s*binh\s*ga|"
     r"mắc\s*kẹt|mac\s*ket|sập\s*nhà|sap\s*nha|ngập\s*lụt|ngap\s*lut|lũ\s*cuốn|lu\s*cuon", FIRE),
    (r"bị\s*đánh|bi\s*danh|đánh\s*nhau|danh\s*nhau|hành\s*hung|hanh\s*hung|đe\s*dọa|đe\s*doạ|de\s*doa|"
     r"cướp|cuop|bắt\s*cóc|bat\s*coc|bạo\s*lực|bao\s*luc|xâm\s*hại|xam\s*hai|hiếp|có\s*dao|co\s*dao|"
     r"có\s*súng|co\s*sung|đâm\s*chém|dam\s*chem|đột\s*nhập|dot\s*nhap|trộm|bị\s*theo\s*dõi|tống\s*tiền|"
     r"tong\s*tien", POLICE),
    (r"khẩn\s*cấp|khan\s*cap|cứu\s*(?:với|tôi|em|con|mạng)|cuu\s*(?:voi|toi|em|con|mang)|nguy\s*hiểm\s*tính\s*mạng",
     MEDICAL),
]
_PATTERNS = [(re.compile(r"(?<![\w])(?:" + p + r")(?![\w])", re.IGNORECASE), s) for p, s in _WORDS]

NAMES = {POLICE: "Công an", FIRE: "Cứu hỏa, cứu nạn", MEDICAL: "Cấp cứu y tế"}


def urgent_services(text: str | None) -> list[str]:
    """The emergency numbers that fit ``text``, most relevant first; [] when nothing is urgent.

    >>> urgent_services("nhà hàng xóm đang cháy")
    ['114', '113', '115']
    >>> urgent_services("quên mật khẩu VNeID")
    []
    """
    if not text:
        return []
    text = unicodedata.normalize("NFC", text)
    found: list[str] = []
    for pattern, service in _PATTERNS:
        if service not in found and pattern.search(text):
            found.append(service)
    if not found:
        return []
    return found + [s for s in (POLICE, FIRE, MEDICAL) if s not in found]


def urgent_text(services: list[str]) -> str:
    numbers = ", ".join(f"{s} ({NAMES[s]})" for s in services)
    return ("⚠️ Nếu bạn hoặc người khác đang gặp nguy hiểm, hãy gọi ngay: " + numbers +
            ". Các số này miễn phí và trực 24/7. Trợ lý ảo và tổng đài dịch vụ công không xử lý được "
            "tình huống khẩn cấp.")


def urgent_messages(text: str | None) -> list[dict]:
    """Messages to send first when ``text`` sounds urgent (same shape as actions/replies.py)."""
    services = urgent_services(text)
    if not services:
        return []
    return [{"text": urgent_text(services)}]
