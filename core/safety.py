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
    (
        r"ngất\s*xỉu|ngat\s*xiu|bất\s*tỉnh|bat\s*tinh|đột\s*quỵ|dot\s*quy|đau\s*tim|chảy\s*máu|chay\s*mau|"
        r"khó\s*thở|kho\s*tho|ngộ\s*độc|ngo\s*doc|đuối\s*nước|duoi\s*nuoc|sắp\s*sinh|tự\s*tử|tu\s*tu|tự\s*sát|"
        r"tu\s*sat|muốn\s*chết|muon\s*chet",
        MEDICAL,
    ),
    (r"tai\s*nạn|tai\s*nan", MEDICAL),
    (
        r"cháy|hỏa\s*hoạn|hoả\s*hoạn|hoa\s*hoan|chay\s*nha|bi\s*chay|dang\s*chay\s*nha|nổ\s*bình\s*ga|no\s*binh\s*ga|"
        r"mắc\s*kẹt|mac\s*ket|sập\s*nhà|sap\s*nha|ngập\s*lụt|ngap\s*lut|lũ\s*cuốn|lu\s*cuon",
        FIRE,
    ),
    (
        r"bị\s*đánh|bi\s*danh|đánh\s*nhau|danh\s*nhau|hành\s*hung|hanh\s*hung|đe\s*dọa|đe\s*doạ|de\s*doa|"
        r"cướp|cuop|bắt\s*cóc|bat\s*coc|bạo\s*lực|bao\s*luc|xâm\s*hại|xam\s*hai|hiếp|có\s*dao|co\s*dao|"
        r"có\s*súng|co\s*sung|đâm\s*chém|dam\s*chem|đột\s*nhập|dot\s*nhap|trộm|bị\s*theo\s*dõi|tống\s*tiền|"
        r"tong\s*tien",
        POLICE,
    ),
    (
        r"khẩn\s*cấp|khan\s*cap|cứu\s*(?:với|tôi|em|con|mạng)|cuu\s*(?:voi|toi|em|con|mang)|nguy\s*hiểm\s*tính\s*mạng",
        MEDICAL,
    ),
    # Situations described without the words above (accented, then unaccented forms).
    (
        r"không\s*thở|khong\s*tho|ngừng\s*thở|ngung\s*tho|tắt\s*thở|ngã\s*gục|nga\s*guc|gục\s*xuống|guc\s*xuong|"
        r"(?:gọi|lay)\s*không\s*tỉnh|(?:goi|lay)\s*khong\s*tinh|nằm\s*bất\s*động|nam\s*bat\s*dong|bất\s*động|"
        r"co\s*giật|co\s*giat|hôn\s*mê|hon\s*me|sùi\s*bọt|sui\s*bot|nôn\s*ra\s*máu|non\s*ra\s*mau|điện\s*giật|"
        r"dien\s*giat|chết\s*đuối|chet\s*duoi|dọa\s*nhảy|doạ\s*nhảy|doa\s*nhay|nhảy\s*lầu|nhay\s*lau|nhảy\s*cầu|"
        r"nhay\s*cau|treo\s*cổ|treo\s*co|thắt\s*cổ|uống\s*thuốc\s*sâu|uong\s*thuoc\s*sau|tông\s*nhau|tong\s*nhau|"
        r"đâm\s*nhau|bị\s*xe\s*tông|bi\s*xe\s*tong|bỏng\s*nặng|gãy\s*xương|ngạt\s*(?:khói|thở|khí)|ngat\s*(?:khoi|tho|khi)|"
        r"hóc\s*(?:xương|dị\s*vật|kẹo)|hoc\s*(?:xuong|di\s*vat)|sặc|uống\s*nhầm|uong\s*nham|nuốt\s*phải|nuot\s*phai|"
        r"rắn\s*cắn|ran\s*can|chó\s*cắn|cho\s*can|sốc\s*phản\s*vệ|soc\s*phan\s*ve|đau\s*ngực|dau\s*nguc|"
        r"méo\s*miệng|meo\s*mieng|liệt\s*nửa|liet\s*nua|vỡ\s*ối|vo\s*oi|chuyển\s*dạ|chuyen\s*da|"
        r"máu\s*(?:chảy|ra)\s*(?:nhiều|không\s*cầm)|mau\s*(?:chay|ra)\s*(?:nhieu|khong\s*cam)|lật\s*xe|lat\s*xe|"
        r"rơi\s*xuống\s*(?:giếng|hố|sông|ao)|roi\s*xuong\s*(?:gieng|ho|song|ao)|nhảy\s*sông|nhay\s*song|"
        r"rạch\s*tay|rach\s*tay|uống\s*thuốc\s*ngủ|uong\s*thuoc\s*ngu",
        MEDICAL,
    ),
    (
        r"rò\s*(?:rỉ\s*)?(?:khí\s*)?gas|ro\s*(?:ri\s*)?(?:khi\s*)?gas|mùi\s*gas|mui\s*gas|mùi\s*ga|xì\s*gas|xi\s*gas|"
        r"bình\s*(?:gas|ga)\s*(?:bị\s*)?(?:rò|xì)|khói\s*(?:mù|bốc|đen|đầy)|khoi\s*(?:mu|boc|den|day)|bốc\s*cháy|"
        r"boc\s*chay|ngập\s*(?:tới|đến|qua)\s*(?:ngực|cổ|mái|nóc|đầu)|ngap\s*(?:toi|den|qua)\s*(?:nguc|co|mai|noc|dau)|"
        r"nước\s*lên\s*nhanh|nuoc\s*len\s*nhanh|nước\s*dâng|nuoc\s*dang|(?:đang|đứng|ngồi|leo)\s*(?:lên\s*)?trên\s*mái|"
        r"(?:dang|dung|ngoi|leo)\s*(?:len\s*)?tren\s*mai|sạt\s*lở|sat\s*lo|"
        r"cuốn\s*trôi|cuon\s*troi|nhà\s*sập|nha\s*sap|kẹt\s*(?:trong\s*)?thang\s*máy|ket\s*(?:trong\s*)?thang\s*may|"
        r"dây\s*điện\s*(?:đứt|rơi|chập)|day\s*dien\s*(?:dut|roi|chap)|chập\s*điện|chap\s*dien|cây\s*đổ\s*đè|"
        r"cay\s*do\s*de|sét\s*đánh|set\s*danh|nước\s*cuốn|nuoc\s*cuon|khói\s*bốc|cháy\s*lớn",
        FIRE,
    ),
    # Someone fallen into water, however it is told ("trượt chân xuống kênh"). Not "chìm" alone: a
    # dossier "chìm nghỉm" (stuck) is the common use in this bot's questions.
    (
        r"(?:rơi|té|ngã|trượt\s*chân|trượt|sảy\s*chân|lọt|bị\s*cuốn|nhảy)\s*(?:\w+\s*){0,2}?xuống\s*"
        r"(?:sông|kênh|mương|ao|hồ|giếng|biển|suối|rạch|hố|nước|đập|vực)|"
        r"(?:roi|te|nga|truot\s*chan|truot|say\s*chan|lot|bi\s*cuon|nhay)\s*(?:\w+\s*){0,2}?xuong\s*"
        r"(?:song|kenh|muong|ao|ho|gieng|bien|suoi|rach|nuoc|dap|vuc)|"
        r"không\s*biết\s*bơi|khong\s*biet\s*boi|mất\s*tích\s*dưới\s*nước",
        FIRE,
    ),
    (
        r"cạy\s*cửa|cay\s*cua|phá\s*khóa|pha\s*khoa|người\s*lạ\s*(?:vào|vô|đột)|nguoi\s*la\s*(?:vao|vo|dot)|"
        r"trốn\s*trong|tron\s*trong|mất\s*tích|mat\s*tich|đi\s*lạc|di\s*lac|bị\s*lạc|bi\s*lac|"
        r"(?:tìm|kiếm)\s*khắp\s*\w+\s*không\s*thấy|(?:tim|kiem)\s*khap\s*\w+\s*khong\s*thay|"
        r"chưa\s*thấy\s*về|chua\s*thay\s*ve|say\s*rượu\s*(?:cầm|vác|đập|đánh)|say\s*ruou\s*(?:cam|vac|dap|danh)|"
        r"mã\s*tấu|ma\s*tau|hung\s*khí|hung\s*khi|cầm\s*dao|cam\s*dao|đòi\s*chém|doi\s*chem|dọa\s*giết|doa\s*giet|"
        r"kề\s*dao|ke\s*dao|dí\s*dao|di\s*dao|đuổi\s*chém|duoi\s*chem|tạt\s*(?:xăng|axit)|tat\s*(?:xang|axit)|"
        r"đốt\s*nhà|dot\s*nha|bạo\s*hành|bao\s*hanh|đánh\s*đập|danh\s*dap|quấy\s*rối|quay\s*roi|sàm\s*sỡ|"
        r"bị\s*(?:nhốt|giam|bám\s*theo)|bi\s*(?:nhot|giam|bam\s*theo)|mất\s*liên\s*lạc|mat\s*lien\s*lac|"
        r"lừa\s*bán|lua\s*ban|đánh\s*bom|danh\s*bom|ôm\s*bom|om\s*bom",
        POLICE,
    ),
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
    return (
        "⚠️ Nếu bạn hoặc người khác đang gặp nguy hiểm, hãy gọi ngay: "
        + numbers
        + ". Trợ lý ảo và tổng đài dịch vụ công không xử lý được tình huống khẩn cấp."
    )


# What to do this minute, per danger situation (dialogue/situations.py). The numbers come first.
DANGER_ADVICE = {
    "threat": (
        "Hãy đưa trẻ em và người nhà vào nơi an toàn, khóa cửa, tránh đối đầu với người đang cầm hung khí "
        "hoặc đang kích động, và gọi ngay 113 (Công an)."
    ),
    "otp_now": (
        "Đây rất có thể là lừa đảo: không đọc, không gửi, không cung cấp mã OTP, mật khẩu hay mã bảo vệ cho "
        "bất kỳ ai, kể cả người xưng là công an. Công an và cán bộ không bao giờ hỏi các mã này qua điện "
        "thoại. Hãy cúp máy ngay; nếu bị đe dọa, gọi 113 (Công an)."
    ),
    "transfer_now": (
        "Dừng lại, không chuyển tiền. Công an, viện kiểm sát, tòa án không bao giờ yêu cầu chuyển tiền "
        "vào «tài khoản tạm giữ» hay «tài khoản an toàn» qua điện thoại: đây là thủ đoạn lừa đảo. Hãy "
        "báo ngay nhân viên ngân hàng tại quầy (hoặc gọi tổng đài ngân hàng của bạn) và gọi 113 "
        "(Công an)."
    ),
}


def danger_text(situation: str | None, services: list[str]) -> str:
    """The first message for a danger: the emergency numbers, then what to do now."""
    services = services or [POLICE, FIRE, MEDICAL]
    advice = DANGER_ADVICE.get(situation or "")
    return urgent_text(services) + (f"\n\n{advice}" if advice else "")


def urgent_messages(text: str | None) -> list[dict]:
    """Messages to send first when ``text`` sounds urgent (same shape as actions/replies.py)."""
    services = urgent_services(text)
    if not services:
        return []
    return [{"text": urgent_text(services)}]
