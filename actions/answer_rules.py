"""What the answer action (actions/answer.py) recognises and says on its own: its tuning constants, the
patterns of dossier problems and secret questions (folded text), whether a message's words are in a
guide, and the advice it gives before or instead of a guide (policy situations, safety
acknowledgements, secrets)."""

from __future__ import annotations

import re

from dialogue import choices as ch
from retrieval.keyterms import SPECIFIC
from retrieval.decision import Decision

# Intents whose message may still be a procedure question the NLU misread. For these the action
# searches too, but answers only when the guide is clearly right (extra margin on the threshold).
DOUBTFUL_INTENTS = {"out_of_scope"}
# How much stronger than the normal answer threshold a doubtful-intent match must be.
DOUBTFUL_EXTRA = 0.08
# A follow-up-shaped message ("còn … thì sao", a facet and a few words) stays on the current topic
# when the current guide scores within this of the best guide (fused-score units).
FOLLOW_KEEP = 0.06
# A short question naming no key thing stays on the topic unless another guide answers it this much
# better (fused score); up to this many words.
LEAN_SWITCH = 0.12
# A handoff entry of a policy situation counts when it scores this close to the answer threshold.
ROUTE_SLACK = 0.05
LEAN_MAX_WORDS = 12
QUESTION_SHAPE = re.compile(
    r"(?<![\w])(khong|ko|k|hong|hok|chua|gi|j|nao|dau|sao|may|bao nhieu|bao lau|khi nao|"
    r"ai|the nao|nhu nao|ra sao|duoc khong|co phai|phai khong|hay khong|the|vay|a)$|"
    r"(?<![\w])(gi|j|nao|dau|may|bao nhieu|bao lau|khi nao|the nao|nhu nao|ai|co phai|"
    r"co can|can gi|lam sao)(?![\w])|\?"
)
# A reply to "which one?" is a fresh question when a guide that was not offered beats the offered
# ones by this much and is answerable on its own.
CHOICE_ESCAPE = 0.08
# An offered guide wins a typed reply on search scores alone when it leads the other offered ones by this.
CHOICE_LEAD = 0.02
# Where the advice of a policy situation is followed by an answer from a guide.
POLICY_GUIDE = {"stolen_phone": "vneid_lock_unlock"}
# The routing entries (knowledge/routing.yml) the policy situations correspond to: the handoff reason
# names them, as when the search itself stops on the entry.
POLICY_ROUTE = {
    "complaint": "handoff_complaint",
    "wrong_data": "handoff_wrong_personal_data",
    "dossier": "handoff_specific_dossier",
}
SCAM_GUIDE = "support_scam_warning"
FOLLOW_SHAPED = re.compile(
    r"(^(con|the con|vay con|vay|the|nhung|neu|the neu|truong hop|lo|ma|a con|a ma)\b)|"
    r"(thi (sao|the nao|lam sao|sao a|sao ha|co sao|co duoc khong|duoc khong)\s*$)"
)


# dossier problems that need an officer (the handoff rules): overdue, returned without reason, paid but unpaid
DOSSIER_PROBLEM = re.compile(
    r"(?<![\w])(qua han|qua hen|tre hen|tre han|bi tra ve|tra ve ma khong|tra lai ma khong|khong (ghi|neu|noi) ly do|"
    r"tru tien (2|hai) lan|bi tru (2|hai) lan|tru 2 lan|da tru (tien )?ma|tien da tru|van (bao|hien) chua (thanh toan|nop)|"  # noqa: E501
    r"chua cap nhat (trang thai|thanh toan)|qua lau (ma )?chua|chua co ket qua)(?![\w])"
)
DOSSIER_CONTEXT = re.compile(r"(?<![\w])(ho so|le phi|phi|thanh toan|tien)(?![\w])")


# "Who may ask for my OTP / password?": a secret with a verb of asking for it, and someone asking.
# Folded text, so "đòi" and "đổi" are both "doi": "doi" counts only before an OTP / code, never
# before "mat khau" (changing one's password is its own guide); "cần", "lấy (lại)", "bạn", "ai"
# are too common to count (measured: "bạn ơi quên mật khẩu thì cần làm gì" was taken for one).
_SECRET = r"otp|ma otp|mat khau|mk|passcode|ma bao ve|ma xac thuc|ma xac nhan"
_ASK = (
    r"hoi|doi(?= (ma |so )?(otp|xac thuc|xac nhan))|xin|yeu cau|bat (doc|dua|nhap|gui|cung cap)|doc (cho|giup|ma)|"
    r"cung cap|gui(?= (ma|otp))|bao (dua|doc|gui|cho|nhap)|(co )?(nen|duoc) (dua|doc|gui|cho)|"
    r"(co )?can(?= (ma|mat khau|mk|otp|passcode))|muon (biet|xem)(?= (ma|mat khau|mk|otp|passcode))"
)
SECRET_NAMED = re.compile(rf"(?<![\w])({_SECRET})(?![\w])")
SECRET_QUESTION = re.compile(
    rf"(?<![\w])({_SECRET})(?![\w]).*(?<![\w])({_ASK})(?![\w])|(?<![\w])({_ASK})(?![\w]).*(?<![\w])({_SECRET})(?![\w])"
)
SECRET_ASKER = re.compile(
    r"(?<![\w])(nhan vien|tong dai|tong dai vien|chatbot|bot|tro ly|cong an|ngan hang|can bo|"
    r"nguoi la|ai do|nguoi ta|nguoi xung|so la|ban|anh|chi|anh ay|chi ay|ong|ba|to truong|"
    r"khu pho|hang xom|nguoi quen|ho hang|dich vu|cua hang|tiem|ho)(?![\w])"
)
# Recovering or changing one's own password is not a question about who may ask for it.
SECRET_RECOVERY = re.compile(
    r"(?<![\w])(quen|lay lai|dat lai|khoi phuc|cap lai|doi mat khau|doi mk|"
    r"doi passcode)(?![\w])"
)
SECRET_SHARED = re.compile(
    r"(?<![\w])(cho (ban|nguoi khac|nguoi ta|no|ho|ai) (muon|biet|dung)|lo (dua|cho|gui|noi)|"
    r"dua (mat khau|tai khoan|otp)|biet mat khau|muon (mat khau|tai khoan))(?![\w])"
)


def is_secret_question(plain: str) -> bool:
    """A question about who may ask for a secret, or a secret already given away (folded text).

    >>> is_secret_question("nhan vien ngan hang hoi mat khau vneid co dua khong")
    True
    >>> is_secret_question("ban oi quen mat khau thi can lam gi")
    False
    >>> is_secret_question("con toi cho ban muon mat khau vneid, gio lam gi")
    True
    """
    if SECRET_SHARED.search(plain) and SECRET_NAMED.search(plain):
        return True  # "cho bạn mượn mật khẩu": given away, whatever else the message says
    return bool(SECRET_QUESTION.search(plain) and not SECRET_RECOVERY.search(plain) and SECRET_ASKER.search(plain))


PRIVACY_GUIDES = ("support_privacy", "support_scam_warning")
FACET_WORDS = {
    "fee": re.compile(r"(?<![\w])(phi|le phi|mien phi)(?![\w])"),
    "time": re.compile(r"(?<![\w])(\d+ ngay|ngay lam viec|thoi gian|thoi han|bao lau|trong ngay)(?![\w])"),
}
# "X thì sao" at the end: a condition added to the current topic ("tài khoản mức 1 thì sao")
ENDS_WHAT_ABOUT = re.compile(r"thi (sao|the nao|lam sao|sao a|sao ha)\s*$")


def guide_words(guide) -> set[str]:
    """Folded words of a guide's title, summary, questions and sections."""
    parts = [guide.title, guide.summary, " ".join(guide.questions), " ".join(guide.tags)]
    parts += [f"{s.heading} {s.text}" for s in guide.sections]
    return set(ch.plain(" ".join(parts)).split())


def mostly_in(words: list[str], guide, share: float = 0.6) -> bool:
    """True when most of ``words`` occur in the guide: the message adds a condition to its topic."""
    if not words:
        return True
    known = guide_words(guide)
    return sum(w in known for w in words) / len(words) >= share


def is_dossier_problem(text: str) -> bool:
    plain = ch.plain(text)
    return bool(DOSSIER_PROBLEM.search(plain) and DOSSIER_CONTEXT.search(plain))


def scores_of(decision: Decision) -> dict[str, float]:
    return {r.guide_id: r.score for r in decision.ranked}


def guide_ranking(decision: Decision, limit: int = 6) -> list[tuple[str, float]]:
    return [(r.guide_id, r.score) for r in decision.ranked if r.kind == "guide"][:limit]


def leans_on_topic(question: str, decision: Decision, guide, coverage: dict) -> bool:
    """A short question about the current topic, told by the key things it names (spaCy).

    It names key things and the topic's guide covers them all ("còn tiền mai táng phí thì hỏi chỗ
    nào" after the death registration), or it names none and is a short question ("ảnh thì cần
    loại nào", "co can ra cong an ko", "goi vao roi bam so may") that no other guide answers far
    better. A key thing the topic does not cover is a new question.
    """
    plain = ch.plain(question)
    words = plain.split()
    if not 0 < len(words) <= LEAN_MAX_WORDS:
        return False
    named = [e for e in decision.entities if e.term.label in SPECIFIC]
    covered = coverage.get(guide.id, frozenset())
    if named:
        return all(e.term.id in covered for e in named)
    if not QUESTION_SHAPE.search(plain):
        return False
    top = decision.top
    scores = scores_of(decision)
    return (
        top is None
        or top.guide_id == guide.id
        or decision.action != "answer"
        or top.score - scores.get(guide.id, 0.0) < LEAN_SWITCH
    )


def shared_thing_choices(
    question: str, decision: Decision, guides: dict, coverage: dict, topic: str | None
) -> list[str] | None:
    """Guides to ask between when the key thing named is covered by several close guides and the
    conversation does not say which (``dialogue.choices.shared_thing_choices``)."""
    named = [
        frozenset(g for g, ids in coverage.items() if e.term.id in ids)
        for e in decision.entities
        if e.term.label in SPECIFIC
    ]
    ranking = [(g, s) for g, s in guide_ranking(decision) if g in guides]
    descriptions = {g: " ".join([guides[g].title, *guides[g].tags]) for g, _ in ranking}
    offered = ch.shared_thing_choices(question, ranking, named, descriptions)
    if offered and topic in offered:
        return None  # the conversation is already about one of them
    return offered
