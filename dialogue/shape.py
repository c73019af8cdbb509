"""What a message must be, whatever the intent classifier said (used by bot/components/urgent.py).

A short question is often filed under goodbye / thanks / yes ("het bao nhieu tien", "có mất phí
ko"), and "ok cho tôi gặp nhân viên" under yes. :func:`reroute` corrects those on the shape of the
text (accent-folded), so the fix does not depend on the trained model. No Rasa imports.
"""

from __future__ import annotations

import re

from core.text.normalize import fold
from dialogue.followup import FOLLOW_OPENING, facets_of
from dialogue.situations import match_patterns

# A person asked for outright, however the sentence starts ("ok cho tôi gặp nhân viên", "được, nối máy
# nhân viên giúp tôi"). Folded text.
PERSON_REQUEST = re.compile(
    r"(?<![\w])(gap|noi chuyen (voi|cung)|noi may( cho)?( toi| minh| em)?( gap| voi| sang| qua)?|"
    r"chuyen( cho| giup)?( toi| minh| em)?( sang| qua| den| toi| gap| cho)?|ket noi( voi| toi| minh)?|"
    r"can|muon gap|xin gap|cho gap)\s+(?:\w+\s+){0,1}(nhan vien|tong dai vien|nguoi that|can bo truc|tu van vien|"
    r"nguoi ho tro|nguoi truc)(?![\w])"
)
# Intents a question is often mistaken for; a message of these intents that asks about a fee, a time,
# documents, a place… is a question. Small talk (chitchat, bot_challenge) flips only on these strong facets.
SHORT_INTENTS = {"goodbye", "thank", "greet", "affirm", "deny", "feedback_helpful", "feedback_not_helpful"}
TALK_INTENTS = {"chitchat", "bot_challenge"}
# Where a question shape alone overrides the classifier: not greetings ("có ai ở đó không", "bạn giúp
# được gì cho tôi" are small talk shaped like questions).
QUESTION_INTENTS = {"goodbye", "thank", "affirm", "deny", "feedback_helpful", "feedback_not_helpful"}
STRONG_FACETS = {"fee", "time", "documents", "where", "penalty"}
# Words of the domain: small talk does not name them ("có phải dẫn bé lên công an không" is a question).
DOMAIN = re.compile(
    r"(?<![\w])(cong an|vneid|dinh danh|can cuoc|cccd|ho so|ho chieu|tam tru|thuong tru|khai sinh|"
    r"giay to|le phi|dich vu cong|otp|mat khau|passcode|ma bao ve|bang lai|gplx|bhyt|ly lich|"
    r"luu tru|ho khau|nop phat|muc 1|muc 2)(?![\w])"
)


# A question by its shape: "có phải đi khám sức khỏe không", "cơ quan nào cấp", "làm ở đâu". Not a
# refusal that happens to end like one ("thôi không cần đâu", "không, cảm ơn").
QUESTION = re.compile(
    r"^(?!(khong|ko|k|thoi|da|vang|uh|um|ok|oke|cam on|thanks)\b)(?=(\w+\s+){2,})"
    # not a question about the bot itself ("bạn giúp được gì cho tôi", "em làm được những gì")
    r"(?!.*(?<![\w])(ban|bot|em|tro ly|chatbot) (co the )?(giup|lam|ho tro|tra loi)( duoc)? (gi|nhung gi|j))"
    r".*((co|phai|can|duoc|bi|mat|lam|nop|di|len|ra)\s+(\w+\s+){0,8}(khong|ko|k|hong|hok|chua)$|"
    r"(?<![\w])(gi|j|nao|bao nhieu|bao lau|the nao|nhu nao|lam sao|o dau|khi nao|may ngay|ai lam)"
    r"(?![\w]))"
)


def reroute(text: str, intent: str | None) -> str | None:
    """The intent a message must have whatever the classifier said, or None to keep it.

    >>> reroute("ok cho toi gap nhan vien", "affirm")
    'request_human'
    >>> reroute("het bao nhieu tien", "goodbye")
    'ask_procedure'
    >>> reroute("ok cảm ơn, bye", "goodbye")
    >>> reroute("có phải đi khám sức khỏe không", "goodbye")
    'ask_procedure'
    >>> reroute("thôi không cần đâu", "deny")
    >>> reroute("có ai ở đó không", "greet")
    >>> reroute("bạn giúp được gì cho tôi", "thank")
    """
    if not text or text.startswith("/"):
        return None
    plain = " ".join(re.sub(r"[^\w\s]", " ", fold(text)).split())
    if intent != "request_human" and PERSON_REQUEST.search(plain) and len(plain.split()) <= 16:
        return "request_human"
    if intent in ("request_human", "ask_procedure", "choose_topic"):
        return None
    if match_patterns(text):
        return "ask_procedure"
    facets = set(facets_of(text))
    # nlu_fallback and out_of_scope already reach the answer action (which answers an out_of_scope
    # message only on a clearly strong match): left as they are.
    if intent in SHORT_INTENTS and (
        facets or FOLLOW_OPENING.match(plain) or (intent in QUESTION_INTENTS and QUESTION.search(plain))
    ):
        return "ask_procedure"
    if intent in TALK_INTENTS and (facets & STRONG_FACETS or DOMAIN.search(plain)):
        return "ask_procedure"
    return None
