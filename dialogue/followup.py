"""Follow-up questions that carry no topic of their own: "hết bao nhiêu tiền", "mất mấy ngày", "cần mang gì".

After an answer, citizens ask about the same procedure in a few words. Such a message names a
*facet* (fee, time, documents, where, who, online, how) and nothing else; searching it from
scratch finds nothing (or the wrong guide), and the NLU may read it as small talk. Here:

* :func:`facets_of` finds the facets a message asks about (accent-folded, teencode expanded);
* :func:`residual_words` keeps the words that are neither facet, question nor filler words: what
  could name a topic ("còn *hộ chiếu* thì sao");
* :func:`is_bare_follow_up` is true when nothing is left: the message leans on the current topic;
* :func:`facet_section` picks the section of the current guide that fits the facet.

Pure functions on text (no Rasa, no index) so they are cheap to test.
"""

from __future__ import annotations

import re

from core.text.normalize import fold

# facet -> pattern on the folded message
FACET_QUERY: dict[str, str] = {
    "fee": r"phi|le phi|bao nhieu tien|may tien|nhieu tien|mat tien|ton tien|het tien|tien|gia|chi phi|mien phi|"
    r"tra tien|dong tien|nop tien|thanh toan|bao nhieu (vay|a|the)?$|het bao nhieu|mat bao nhieu|ton bao nhieu",
    "time": r"bao lau|may ngay|may hom|may tuan|may thang|thoi gian|thoi han|bao gio|khi nao|lau (khong|ko|k)|"
    r"lau qua|mat bao lau|bao nhieu ngay|han|tra ket qua|co ket qua|nhan duoc|ngay lam viec|lau",
    "documents": r"giay to|ho so (gom|can|co)|can mang|mang theo|mang gi|chuan bi|can (nhung )?gi|nhung gi|"
    r"can co gi|phai co gi|can giay|anh the|anh chan dung|ban sao|to khai|cmnd|cccd|can cuoc",
    "where": r"o dau|noi nao|cho nao|dia chi|dau (vay|a|the)?$|nop o|lam o|di dau|len dau|co quan nao|trang nao|"
    r"web nao|link|duong dan",
    "who": r"ai (lam|duoc|co the|phai|giai quyet|cap)|doi tuong|dieu kien|duoc khong|co duoc|ai$",
    "online": r"online|truc tuyen|tren mang|tren app|qua app|tren ung dung|tai nha|khong can den|khong can len",
    "how": r"lam sao|the nao|nhu nao|ra sao|cac buoc|cach|huong dan|kieu gi|lam gi|xu ly",
    "problem": r"loi|khong duoc|bi tu choi|that bai|tre hen|qua han|cham|bo sung|sai",
    "penalty": r"phat|bi phat|co sao|sao khong|bi gi|bi sao|xu phat|muc phat|co bi gi|co van de gi",
    "contact": r"goi so nao|so nao|so dien thoai nao|hotline|tong dai nao|lien he|goi ai|bao ai|bao cho ai|trinh bao",
}
_FACET_QUERY = {k: re.compile(r"(?<![\w])(?:" + v + r")(?![\w])") for k, v in FACET_QUERY.items()}

# facet -> pattern a section heading (weight 3) or text (weight 1) must contain to fit it
FACET_SECTION: dict[str, str] = {
    "fee": r"le phi|phi|mien phi|tien|thanh toan",
    "time": r"thoi gian|thoi han|bao lau|ngay lam viec|tra ket qua|trong ngay|han",
    "documents": r"giay to|chuan bi|ho so|can co|mang theo|anh",
    "where": r"o dau|noi|nop tai|co quan|dia chi|dichvucong|cong dich vu cong|truc tiep",
    "who": r"ai |doi tuong|dieu kien|duoc lam|ai lam",
    "online": r"truc tuyen|online|ung dung|vneid|cong dich vu cong",
    "how": r"cac buoc|cach|huong dan|^1[.)]",
    "problem": r"loi|thuong gap|khong duoc|bo sung|cham|qua han",
    "penalty": r"phat|xu phat|muc phat|canh cao|vi pham",
    "contact": r"\d{4} \d{4}|\d{4}|tong dai|goi|lien he|trinh bao|cong an",
}
_FACET_SECTION = {k: re.compile(r"(?<![\w])(?:" + v + r")") for k, v in FACET_SECTION.items()}

# Openings and fillers that lean on the previous message ("còn … thì sao", "vậy", "thế còn").
FOLLOW_OPENING = re.compile(
    r"^(con|the con|vay con|vay thi|vay|the|nhung|neu|the neu|the thi|truong hop|lo|"
    r"ma|roi|xong|sau do|tiep theo|them)\b"
)

# Words that say nothing about the topic: question words, pronouns, particles, politeness,
# facet words already caught above. Folded.
FILLER = set(
    """
a ah ak a. ạ à ơi oi nhe nha nhi nhá ha hả ho hỉ vay vậy the thế thi thì sao con còn ma mà la là cho hoi hỏi
toi tôi minh mình em anh chi chị ban bạn ad admin shop bac bác co cô chu chú ong ông ba bà no nó ho họ
khong không ko k hok hong ko. duoc được dc dk roi rồi xong nua nữa them thêm nhe luon luôn cai cái nay này
do đó kia day đây ay ấy vay v z j gi gì nao nào dau đâu ai may mấy bao nhieu lau gio khi lam làm di đi phai
phải can cần co có mat mất het hết ton tốn la là cua của voi với va và hay hoac hoặc neu nếu truong hop lo
o ở tai tại tren trên qua den đến len lên ve về vao vào ra bi bị chua chưa da đã dang đang se sẽ cung cũng
thi vay nhu như the nao sao ra kieu duoc nhieu it mot hai ba muon muốn biet biết xin vui long giup giúp
so tien phi le gia chi thoi gian han ngay hom tuan thang nam giay to ho so mang theo chuan bi nop nhan
online truc tuyen mang app ung dung nha cach buoc huong dan xu ly loi sai thanh toan tra dong mien
anh the ban sao to khai noi cho dia link trang web doi tuong dieu kien ket qua
tiep theo sau truoc luc bay gio nay nua a. dung goi bao so nao phat
ok oke vang dạ da ừ u uh um thanks cam on
""".split()
)
# Accept folded forms only: the message is folded before the check.
FILLER = {fold(w) for w in FILLER}

MAX_FOLLOW_UP_WORDS = 14


def _folded(text: str) -> str:
    text = fold(text or "")
    return re.sub(r"[^\w\s]", " ", text).strip()


def facets_of(text: str) -> list[str]:
    """The facets a message asks about, in a fixed order.

    >>> facets_of("het bao nhieu tien vay")
    ['fee']
    >>> facets_of("mất mấy ngày thì có")
    ['time']
    """
    plain = " ".join(_folded(text).split())
    return [name for name, pattern in _FACET_QUERY.items() if pattern.search(plain)]


def residual_words(text: str) -> list[str]:
    """The words of ``text`` that could name a topic (not facet, question or filler words).

    >>> residual_words("còn lệ phí thì sao ạ")
    []
    >>> residual_words("còn hộ chiếu thì sao")
    ['chieu']
    """
    words = _folded(text).split()
    return [w for w in words if w not in FILLER and not w.isdigit()]


def is_bare_follow_up(text: str) -> bool:
    """True when the message asks about a facet (or opens with "còn/vậy…") and names no topic.

    >>> is_bare_follow_up("làm mất bao lâu")
    True
    >>> is_bare_follow_up("đăng ký tạm trú online thế nào")
    False
    """
    words = _folded(text).split()
    if not 0 < len(words) <= MAX_FOLLOW_UP_WORDS:
        return False
    if residual_words(text):
        return False
    plain = " ".join(words)
    return bool(facets_of(text)) or bool(FOLLOW_OPENING.match(plain))


def facet_section(sections: list[tuple[str, str]], facets: list[str]) -> int:
    """Index of the section (heading, text) that best fits ``facets``; -1 when none does.

    A heading naming the facet counts three times its text. Ties go to the earlier section.

    >>> facet_section([("Các bước", "1. Đăng nhập"), ("Lệ phí và thời gian", "Miễn phí")], ["fee"])
    1
    """
    wanted = [f for f in facets if f in _FACET_SECTION]
    if not wanted:
        return -1
    best, best_score = -1, 0.0
    for index, (heading, text) in enumerate(sections):
        head, body = fold(heading or ""), fold(text or "")
        score = 0.0
        for rank, facet in enumerate(wanted):
            weight = 1.0 / (1 + rank)  # the first facet asked counts most
            pattern = _FACET_SECTION[facet]
            score += weight * (3.0 * bool(pattern.search(head)) + min(len(pattern.findall(body)), 3) / 3.0)
        if score > best_score:
            best, best_score = index, score
    return best
