"""Situations that need advice first, and a person or the emergency numbers, whatever the wording.

Two kinds (the handoff rules, /work/shared/domain/topics.md "support_handoff_rules"):

* **danger** (``threat``, ``otp_now``, ``transfer_now``): someone is in danger or a scam is
  happening right now. The first message points to 113 and says what to do this minute (do not
  read out the OTP; stop the transfer, tell the bank).
* **policy** (``stolen_phone``, ``money_lost``, ``wrong_data``, ``complaint``): what to do first
  (lock the account on 1900 0368; call the bank and report to the police; the police correct
  personal data; complaints go to an officer), then the offer of a person.

Recognition works on accent-folded, teencode-expanded text (core/text/normalize.py) with patterns
that combine a *thing* (phone, OTP, money transfer, weapon…) with a *state* (lost, being asked,
about to, already…), so paraphrases match without listing sentences. :class:`SituationModel`
adds the embedding model as a conservative second signal: a message close to a described
situation (prototypes below, compared with the search's EmbeddingGemma) counts too. Measured on
our own paraphrases that the patterns miss, the embedding side at the shipped threshold (0.72,
margin 0.05 over ordinary questions) catches none of them (best cosines 0.37-0.69), so today the
patterns do the work; lowering the threshold needs a measurement of false alarms on ordinary
questions first (docs/dialogue.md).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

import numpy as np

from core.text.normalize import fold

log = logging.getLogger(__name__)

DANGER = ("threat", "otp_now", "transfer_now")
# Emergencies the learned model (dialogue/danger.py) recognises beyond the words of core/safety.py.
EMERGENCIES = ("medical", "fire_rescue", "self_harm")
POLICY = ("stolen_phone", "money_lost", "wrong_data", "complaint")


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])(?:" + pattern + r")(?![\w])")


# --- pieces, on folded text ------------------------------------------------------------------------
PHONE = r"dien thoai|dt|dth|smartphone|iphone|sam sung|samsung|di dong|cai may|chiec may|may dien thoai"
LOST = (
    r"mat|bi mat|danh roi|roi mat|roi dau|that lac|bi trom|bi lay|bi lay cap|lay cap|bi giat|giat mat|"
    r"bi cuop|cuop mat|bo quen|de quen|khong tim thay|khong thay dau|trom mat|bi moc tui|moc tui|trom"
)
LOGGED = (
    r"vneid|dinh danh|tai khoan|dang nhap|chua dang xuat|van dang nhap|con dang nhap|dang dang nhap|"
    r"app|ung dung|xai|dung tai khoan|loi dung|ngan hang"
)
LOST_PHONE = _rx(
    rf"(?:{LOST})\s+(?:(?:cai|chiec|con|mat)\s+)?(?:{PHONE})|(?:{PHONE})\s+(?:cua\s+\w+\s+)?"
    rf"(?:da\s+|vua\s+|bi\s+)?(?:{LOST})(?!\s+(?:may|bao|\d))"
)
LOGGED_IN = _rx(LOGGED)
NEW_DEVICE_ONLY = _rx(r"may moi|dien thoai moi|thiet bi moi|doi may|doi dien thoai")
STILL_LOGGED = _rx(
    r"van (dang )?dang nhap|con dang nhap|chua dang xuat|chua thoat|dang dang nhap|so (bi|no|ho|ke)|"
    r"lo (bi|no|ho|ke)|bi (xai|dung|loi dung)|lam gi (bay gio|gio|truoc)|khoa|nguoi khac|ke gian|"
    r"trong (may|do|dien thoai) (co|con|van)|van con|con app|con tai khoan"
)

SECRET = r"otp|ma otp|ma xac thuc|ma xac nhan|ma kich hoat|mat khau|passcode|ma bao ve|ma pin|ma so (bi mat|otp)"
ASKER = (
    r"cong an|can bo|cong an phuong|cong an xa|ngan hang|nhan vien|nguoi la|so la|ai do|nguoi|ho|thang|ong|ba|"
    r"anh ta|chi ta|ben kia|dau day|goi dien|tong dai|vien kiem sat|toa an|dieu tra|canh sat"
)
ASKING = r"hoi|doi|yeu cau|bat|bao|xin|nhac|de nghi|can|muon|doc|gui|cung cap|nhan|noi|dua"
NOW = (
    r"dang|bay gio|ngay bay gio|ngay lap tuc|luc nay|vua|dang goi|dang cho|dang giu may|dang noi|tren dien thoai|"
    r"co nen|gap"
)
SECRET_NOW = [
    # "họ đang đòi mã OTP", "công an đang hỏi OTP", "người gọi bắt đọc mã xác thực"
    _rx(rf"(?:{NOW})\s+(?:\w+\s+){{0,3}}(?:{ASKING})\s+(?:\w+\s+){{0,3}}(?:{SECRET})"),
    # "có nên đọc mã OTP cho họ không", "đọc OTP cho công an được không"
    _rx(
        rf"(?:co nen|nen|co phai|phai|co duoc)\s+(?:\w+\s+){{0,2}}(?:doc|gui|cung cap|dua|noi|nhan)\s+(?:\w+\s+){{0,2}}"
        rf"(?:{SECRET})"
    ),
    # "xưng công an gọi tới bảo đọc OTP"
    _rx(rf"(?:xung|gia danh|tu xung|mao danh|nhan la)\s+(?:\w+\s+){{0,6}}(?:{SECRET})"),
    _rx(rf"(?:{SECRET})\s+(?:\w+\s+){{0,3}}(?:cho|toi)\s+(?:{ASKER})\s+(?:\w+\s+){{0,3}}(?:dang|bay gio|ngay)"),
    # "công an gọi điện bắt đọc OTP ngay bây giờ"
    _rx(
        rf"(?:{ASKING})\s+(?:\w+\s+){{0,2}}(?:{SECRET})\s+(?:\w+\s+){{0,3}}(?:ngay bay gio|bay gio|ngay lap tuc|gap|luon)"  # noqa: E501
    ),
]
SECRET_WORD = _rx(r"otp|ma xac thuc|ma xac nhan|mat khau|passcode|ma bao ve|ma pin|ma kich hoat")
CALLER = _rx(
    r"cong an|can bo|ngan hang|nguoi la|so la|goi dien|goi toi|goi den|dau day|xung|gia danh|mao danh|"
    r"vien kiem sat|toa an|canh sat|nhan vien|tong dai"
)

TRANSFER = (
    r"chuyen tien|chuyen khoan|ck|nop tien(?! phat)|gui tien|chuyen het|chuyen (\d+|mot|hai|ba|nam|muoi|tram)\s*"
    r"(trieu|tr|nghin|ngan|k|ty|cu|dong)|chuyen (so )?tien|chuyen vao tai khoan|dong tien"
)
ABOUT_TO = (
    r"sap|chuan bi|dang|dinh|bay gio|ngay|o ngan hang|tai ngan hang|ra ngan hang|den ngan hang|"
    r"co nen|bat|(?<!thong )bao|yeu cau|doi|theo lenh|theo yeu cau|quay giao dich|cay atm|atm"
)
TRANSFER_NOW = [
    _rx(rf"(?:{ABOUT_TO})\s+(?:\w+\s+){{0,4}}(?:{TRANSFER})"),
    _rx(
        rf"(?:{TRANSFER})\s+(?:\w+\s+){{0,6}}(?:theo lenh|theo yeu cau|tai khoan an toan|tai khoan tam giu|"
        rf"de dieu tra|de xac minh|de chung minh|ngay bay gio|ngay lap tuc|gap)"
    ),
]
AUTHORITY = _rx(
    r"cong an|can bo|vien kiem sat|toa an|canh sat|dieu tra|nguoi la|so la|xung|gia danh|"
    r"mao danh|ho bao|ho bat|ho yeu cau|nguoi ta bao|nguoi ta bat|tai khoan an toan|dau day|vo toi"
)
ALREADY = _rx(
    r"da chuyen (tien|khoan|het|\d+|cho (ho|no|nguoi|ke|tai khoan))|chuyen (tien |khoan )?roi|lo chuyen|"
    r"trot chuyen|da ck|ck roi|da nop tien|da gui tien|mat (het|sach) tien|bi mat tien|da mat tien|"
    r"mat \d+\s*(trieu|tr|nghin|ngan|k|ty|dong|cu)|bi lua (mat|het|lay|chuyen|\d)|bi lua dao (mat|het|lay|\d)|"
    r"bi lua roi|bi chiem doat|bi lay mat|bi rut (het |sach )?tien|bi tru (het |sach )?tien|"
    r"tien (trong tai khoan )?(bi mat|mat het|bien mat|khong con)|bay mat|mat trang|da bi lua|"
    r"(toi|minh|em|me|bo|ba|ong|chong|vo|con|nha toi|gia dinh)\s+(da |vua |moi |lo )?bi lua|"
    r"lo (cai|bam vao|nhan vao|doc|cung cap|gui|dua|chuyen)"
)
NO_LONGER = _rx(
    r"khong chuyen (nua|dau)|se khong chuyen|thoi khong chuyen|khong (doc|gui|dua|cung cap) (nua|dau)|"
    r"da (cup|tat|dap|ngat) may|cup may roi|tat may roi|dap may roi"
)

WEAPON = _rx(
    r"cam dao|co dao|mang dao|vung dao|rut dao|con dao|dao phay|dao rua|dao kiem|ma tau|cam sung|co sung|"
    r"sung ngan|sung dai|khau sung|ban sung|chia sung|hung khi|vu khi|cay gay|gay gioc|cam gay|cam rua|"
    r"cam bua|cam kiem|axit|tat axit|luu dan|chat no|cam xang|tuoi xang|dot nha"
)
THREAT = _rx(
    r"de doa|doa (giet|chem|danh|dot|tat|dam)|doi (giet|chem|danh|dot)|giet|chem|dam chet|dot nha|"
    r"xong vao|dap pha|dap cua|pha cua|dap cong|quay pha|hanh hung|uy hiep|bat coc|khong che|bao hanh|"
    r"bao luc|danh dap|danh nguoi|dang bi danh|bi danh (dap|dau|toi|em|chay mau|nhu)|"
    r"(dang|doa|doi|se) danh (nhau|vo|con|me|toi|nguoi|em|chi|anh|ba|ong|ca nha)|"
    r"say (ruou|xin)\s+(?:\w+\s+){0,6}(cam|dap|chui|doa|danh|xong)|dang cuop|dang bi theo doi|"
    r"cuop (nha|tiem|cua hang)"
)
HARMLESS_WEAPON = _rx(r"ma so|sung tuc")  # rare false friends of "súng"/"mã tấu" after folding

WRONG = (
    r"sai|bi sai|ghi sai|nhap sai|khong dung|nham|ghi nham|bi nham|lech|khong khop|khac voi|khac nhau|sai lech|"
    r"van (ghi|hien|thay|la|de|con)|chua (duoc )?cap nhat|chua doi|con ghi|nha cu|dia chi cu|cho cu|"
    r"sua o dau|sua the nao|sua sao|phai sua|muon sua|dieu chinh"
)
PERSONAL = (
    r"thong tin|ho ten|ho va ten|ten|ngay sinh|nam sinh|thang sinh|que quan|dia chi|noi thuong tru|"
    r"thuong tru|noi o|gioi tinh|dan toc|ton giao|so cccd|so can cuoc|so dinh danh|du lieu|ten dem|chu lot"
)
WRONG_DATA = [
    _rx(rf"(?:{PERSONAL})\s+(?:\w+\s+){{0,6}}(?:{WRONG})"),
    _rx(rf"(?:{WRONG})\s+(?:\w+\s+){{0,2}}(?:{PERSONAL})"),
]
NOT_PERSONAL = _rx(
    r"mat khau|otp|passcode|ma bao ve|nhap sai|go sai|sai mat khau|sai ma|dang nhap|chinh ta cau hoi|"
    r"doi the|the moi|cap doi|cap lai the|lam lai the|doi sang the"
)
ACCOUNT = _rx(
    r"vneid|dinh danh|tai khoan|app|ung dung|can cuoc|cccd|du lieu dan cu|tren may|tren he thong|co so du lieu"
)

COMPLAINT = _rx(
    r"khieu nai|to cao (can bo|cong an|nhan vien|cong chuc)|phan anh (can bo|thai do|nhan vien|cong an)|"
    r"(can bo|cong an|nhan vien|cong chuc)\s+(?:\w+\s+){0,4}(hach dich|gay kho|voi tien|doi tien|nhung nhieu|"
    r"thai do|quat|mang chui|quat mang|chui boi|lam kho|khong tiep|khong giai quyet|co tinh|an hoi lo|nhan tien|cham tre)|"  # noqa: E501
    r"thai do (kem|te|khong tot|hach dich|coc can)|nhung nhieu|voi tien|an hoi lo|doi boi duong|"
    r"doi (tien )?boi duong|tien boi duong|lam kho (de )?(dan|toi|minh)"
)


@dataclass(frozen=True)
class Situation:
    name: str
    kind: str  # "danger" | "policy"
    via: str  # "pattern" | "embedding"
    score: float = 1.0


def _any(patterns: list[re.Pattern[str]], text: str) -> bool:
    return any(p.search(text) for p in patterns)


def match_patterns(text: str) -> str | None:
    """The situation a message describes, by patterns on folded text; None when none.

    >>> match_patterns("có ông say rượu cầm dao đứng trước cổng dọa chém cả nhà tôi")
    'threat'
    >>> match_patterns("nguoi xung cong an dang goi bat toi doc ma otp")
    'otp_now'
    >>> match_patterns("quên mật khẩu vneid")
    """
    plain = " ".join(re.sub(r"[^\w\s]", " ", fold(text or "")).split())
    if not plain:
        return None
    if NO_LONGER.search(plain):
        return None  # "tôi sẽ không chuyển nữa": read in context by the caller
    if (WEAPON.search(plain) and not HARMLESS_WEAPON.search(plain)) or THREAT.search(plain):
        return "threat"
    if SECRET_WORD.search(plain) and CALLER.search(plain) and _any(SECRET_NOW, plain):
        return "otp_now"
    if ALREADY.search(plain):
        return "money_lost"
    if _any(TRANSFER_NOW, plain) and AUTHORITY.search(plain):
        return "transfer_now"
    if LOST_PHONE.search(plain) and (
        STILL_LOGGED.search(plain) or (LOGGED_IN.search(plain) and not NEW_DEVICE_ONLY.search(plain))
    ):
        return "stolen_phone"
    if _any(WRONG_DATA, plain) and ACCOUNT.search(plain) and not NOT_PERSONAL.search(plain):
        return "wrong_data"
    if COMPLAINT.search(plain):
        return "complaint"
    return None


def kind_of(name: str) -> str:
    return "danger" if name in DANGER or name in EMERGENCIES else "policy"


# --- the embedding side ----------------------------------------------------------------------------
# Described situations (own words), compared with the message by the search's embedding model.
PROTOTYPES: dict[str, list[str]] = {
    "threat": [
        "có người cầm hung khí đang đe dọa gia đình tôi ngay trước nhà",
        "một người say xỉn đang hung hăng đòi đánh người nhà tôi",
        "có kẻ đang xông vào nhà và uy hiếp chúng tôi",
        "tôi đang bị người khác đe dọa tính mạng",
    ],
    "otp_now": [
        "người xưng là công an đang gọi điện yêu cầu tôi đọc mã OTP",
        "có người lạ đang đòi tôi cung cấp mã xác thực vừa gửi về điện thoại",
        "đầu dây bên kia bảo tôi nói mật khẩu VNeID ngay bây giờ",
    ],
    "transfer_now": [
        "công an gọi bảo tôi chuyển tiền vào tài khoản an toàn, tôi đang ở ngân hàng",
        "tôi sắp chuyển khoản theo yêu cầu của người xưng là cán bộ điều tra",
        "họ bắt tôi chuyển hết tiền tiết kiệm để chứng minh mình vô tội",
    ],
    "stolen_phone": [
        "điện thoại của tôi bị trộm mà vẫn đang đăng nhập VNeID",
        "tôi đánh rơi điện thoại, trong máy còn tài khoản định danh điện tử",
        "bị cướp điện thoại, sợ người khác dùng tài khoản VNeID của tôi",
    ],
    "money_lost": [
        "tôi đã bị lừa chuyển tiền cho kẻ giả danh công an",
        "tài khoản ngân hàng của tôi bị rút sạch tiền sau khi cài ứng dụng lạ",
        "tôi lỡ làm theo hướng dẫn qua điện thoại và mất tiền rồi",
    ],
    "wrong_data": [
        "thông tin cá nhân trên tài khoản định danh của tôi bị sai",
        "ngày sinh trên ứng dụng VNeID không đúng với giấy tờ",
        "họ tên của tôi trong dữ liệu dân cư bị ghi nhầm",
    ],
    "complaint": [
        "tôi muốn khiếu nại cán bộ tiếp nhận hồ sơ có thái độ không đúng mực",
        "cán bộ ở phường gây khó dễ và đòi tiền bồi dưỡng",
    ],
}
# Ordinary questions (own words) the recognizer must NOT fire on: the closest ones to the situations.
NEGATIVES = [
    "cách khóa tài khoản VNeID khi cần",
    "đổi điện thoại mới thì đăng nhập VNeID thế nào",
    "cảnh báo các thủ đoạn lừa đảo giả danh công an",
    "không nhận được mã OTP khi đăng nhập",
    "cách thanh toán lệ phí trực tuyến bằng chuyển khoản",
    "xem thông tin cư trú trên VNeID",
    "quên mật khẩu VNeID",
    "tố giác tội phạm trên ứng dụng VNeID",
    "đăng ký tài khoản định danh mức 2",
    "mã bảo vệ passcode dùng để làm gì",
    "tra cứu tình trạng hồ sơ đã nộp",
    "nộp phạt giao thông trực tuyến",
]


class SituationModel:
    """Patterns first; then the embedding model against the prototypes (when one is loaded).

    ``threshold``: the cosine a message needs with a prototype; ``margin``: its lead over the
    closest ordinary question (NEGATIVES), so a question *about* scams is not taken for a scam
    in progress.
    """

    def __init__(self, encoder=None, restore=None, threshold: float = 0.72, margin: float = 0.05, classifier=None):
        self.encoder = encoder
        # dialogue.danger.DangerClassifier trained on this encoder's embeddings (None: not used)
        self.classifier = (
            classifier
            if classifier is not None
            and encoder is not None
            and classifier.model_id == getattr(encoder, "model_id", None)
            else None
        )
        if classifier is not None and self.classifier is None:
            log.error(
                "situations: the danger model was trained on %s, the search uses %s: not used; run `make index`",
                classifier.model_id,
                getattr(encoder, "model_id", None),
            )
        self.restore = restore or (lambda text: text)
        self.threshold = threshold
        self.margin = margin
        self._lock = threading.Lock()
        self._vectors: np.ndarray | None = None
        self._labels: list[str] = []
        self._negatives: np.ndarray | None = None

    def _prepare(self) -> None:
        if self._vectors is not None or self.encoder is None:
            return
        with self._lock:
            if self._vectors is not None:
                return
            labels = [name for name, texts in PROTOTYPES.items() for _ in texts]
            texts = [t for ts in PROTOTYPES.values() for t in ts]
            self._negatives = self.encoder.encode_documents(NEGATIVES)
            self._labels = labels
            self._vectors = self.encoder.encode_documents(texts)

    def embedding_match(self, text: str) -> tuple[str | None, float]:
        """(situation, cosine) of the closest prototype when it passes threshold and margin."""
        if self.encoder is None or not text.strip():
            return None, 0.0
        try:
            self._prepare()
            query = self.encoder.encode_queries([self.restore(text)])[0]
        except Exception:  # the patterns still work
            log.exception("situation embedding failed")
            return None, 0.0
        scores = self._vectors @ query
        best = int(np.argmax(scores))
        negative = float(np.max(self._negatives @ query)) if self._negatives is not None else 0.0
        score = float(scores[best])
        if score >= self.threshold and score - negative >= self.margin:
            return self._labels[best], score
        return None, score

    def learned_danger(self, text: str) -> tuple[str | None, float]:
        """(danger situation, P(danger)) from the learned model; (None, 0) without one."""
        if self.classifier is None or not text.strip():
            return None, 0.0
        try:
            query = self.encoder.encode_queries([self.restore(text)])[0]
        except Exception:  # the patterns still work
            log.exception("situation embedding failed")
            return None, 0.0
        return self.classifier.predict(query)

    def recognize(self, text: str) -> Situation | None:
        name = match_patterns(text)
        if name:
            return Situation(name, kind_of(name), "pattern")
        name, score = self.learned_danger(text)
        if name:
            return Situation(name, "danger", "classifier", round(score, 4))
        name, score = self.embedding_match(text)
        if name:
            return Situation(name, kind_of(name), "embedding", round(score, 4))
        return None


def safety_settled(text: str) -> bool:
    """After a danger message: the citizen says help is coming, they are safe, or they will not comply.

    >>> safety_settled("công an đang tới rồi")
    True
    >>> safety_settled("thôi tôi không chuyển nữa")
    True
    """
    plain = " ".join(re.sub(r"[^\w\s]", " ", fold(text or "")).split())
    return bool(NO_LONGER.search(plain) or SETTLED.search(plain))


SETTLED = _rx(
    r"(cong an|canh sat|nguoi nha|hang xom|moi nguoi|cuu thuong|xe cap cuu|cuu hoa|113|ho|ngan hang)\s+"
    r"(?:\w+\s+){0,3}(dang|sap|da)\s+(?:\w+\s+){0,2}(toi|den|lai|qua|ra|xu ly|giai quyet|khoa|chan|ho tro)|"
    r"da goi (113|114|115|cong an|canh sat|ngan hang|cho ngan hang|cho cong an)|"
    r"da bao (cong an|ngan hang|113)|goi roi|bao roi|an toan roi|da an toan|on roi|khong sao roi|"
    r"(toi|minh|em|chung toi) (da )?(an toan|khong sao|on)|khong (doc|gui|dua|cung cap)|"
    r"(thoi|khong|chua) (chuyen|ck)|da dung lai|dung lai roi|huy giao dich|khong lam theo"
)
