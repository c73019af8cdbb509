"""Compose the bot's replies from a decision: pure functions, no Rasa, easy to test.

Every reply that answers from a guide, asks to choose, abstains or hands off carries
machine-readable metadata as a separate custom payload ``{"dvc": {...}}`` (decision, guide ids,
scores), which the evaluator and the handoff console read. Channels drop it before sending.
"""

from __future__ import annotations

import json

from core.decision import DecisionPayload
from core.settings import Hotline
from retrieval.documents import Guide, render
from retrieval.decision import Decision

# Longest section text we show in a chat bubble. Zalo and Messenger cut at 2,000 characters; a
# phone screen shows ~600 comfortably. Past this we cut at a line break and point to the source.
MAX_SECTION_CHARS = 900
HELPFUL_QUESTION = "Câu trả lời có giúp ích không?"


SECRET_HIDDEN = (
    "🔒 Tôi đã ẩn mật khẩu / mã OTP trong tin nhắn của bạn và không lưu lại. Trợ lý ảo và tổng đài "
    "viên không bao giờ hỏi các mã này; bạn đừng gửi cho ai, kể cả người xưng là cán bộ."
)


def payload(intent: str, **entities: str) -> str:
    """A Rasa button payload that triggers ``intent`` with entities.

    >>> payload("choose_topic", topic_id="vneid_passcode")
    '/choose_topic{"topic_id": "vneid_passcode"}'
    """
    return f"/{intent}{json.dumps(entities, ensure_ascii=False)}" if entities else f"/{intent}"


def _clip(text: str, limit: int = MAX_SECTION_CHARS) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    cut = text.rfind("\n", 0, limit)
    if cut < limit // 2:
        cut = text.rfind(" ", 0, limit)
    if cut <= 0:
        cut = limit
    return text[:cut].rstrip() + " …", True


def answer_messages(guide: Guide, section: int, hotline: Hotline, decision: Decision | None) -> list[dict]:
    """The answer from one guide: title, summary, the section that fits the question, source."""
    values = hotline.placeholders()
    parts = [f"📌 {guide.title}", render(guide.summary, values)]
    if 0 <= section < len(guide.sections):
        chosen = guide.sections[section]
        body, clipped = _clip(render(chosen.text, values))
        parts.append(f"{chosen.heading}:\n{body}" if chosen.heading else body)
        if clipped:
            parts.append("(Hướng dẫn còn tiếp, bạn xem đầy đủ ở nguồn bên dưới.)")
    if guide.url:
        parts.append(f"Nguồn: {guide.url}")
    text = "\n\n".join(parts)
    meta = decision.as_metadata() if decision else {"decision": "answer", "guide_ids": [guide.id]}
    meta.update({"decision": "answer", "guide_ids": [guide.id], "section": section})
    return [
        {"text": text},
        {
            "text": HELPFUL_QUESTION,
            "buttons": [
                {"title": "👍 Có", "payload": payload("feedback_helpful", topic_id=guide.id)},
                {"title": "👎 Chưa", "payload": payload("feedback_not_helpful", topic_id=guide.id)},
            ],
        },
        DecisionPayload.from_dict(meta).message(),
    ]


CLARIFY_QUESTION = "Câu hỏi của bạn gần với vài hướng dẫn. Bạn đang hỏi về nội dung nào?"


def clarify_messages(
    guides: list[Guide], decision: Decision, question: str | None = None, labels: dict[str, str] | None = None
) -> list[dict]:
    """Ask which guide the citizen means: one button per guide (its short ``labels`` entry, else its
    title), and "none of these" (a person). ``question`` replaces the generic question."""
    labels = labels or {}
    buttons = [
        {"title": labels.get(g.id) or g.title, "payload": payload("choose_topic", topic_id=g.id)} for g in guides
    ]
    buttons.append({"title": "Không phải các mục trên", "payload": payload("request_human")})
    meta = decision.as_metadata()
    text = question or CLARIFY_QUESTION
    if question:
        text += " Bạn bấm chọn, hoặc gõ trả lời theo cách của bạn."
    return [
        {"text": text, "buttons": buttons},
        DecisionPayload.from_dict(meta).message(),
    ]


def abstain_messages(
    hotline: Hotline, decision: Decision | None, reason: str = "low_confidence", route_title: str = ""
) -> list[dict]:
    """No answer from a guide: say why, never guess, and offer a person.

    ``route_title`` is the title of the routing entry (knowledge/routing.yml) that matched, if any:
    a "handoff" entry needs an officer; an "uncovered" one is a procedure with no guide yet.
    """
    meta = decision.as_metadata() if decision else {"decision": "abstain", "guide_ids": []}
    route = meta.get("route") or ""
    if route and reason == "low_confidence":
        reason = route
    meta.update({"decision": "abstain", "guide_ids": [], "reason": reason})
    call = f"Bạn cũng có thể gọi {hotline.contact}."
    if route.startswith("handoff:"):
        text = (
            f"Việc này ({route_title.lower() or 'trường hợp cụ thể của bạn'}) cần cán bộ xem xét trực tiếp, "
            f"tôi không tự trả lời được. Tôi có thể chuyển bạn đến tổng đài viên. {call}"
        )
    elif route.startswith("uncovered:"):
        text = (
            f"Hiện tôi chưa có hướng dẫn về {route_title.lower() or 'thủ tục này'}, nên không muốn trả lời "
            f"đoán. Tôi có thể chuyển bạn đến tổng đài viên để được hướng dẫn. {call}"
        )
    else:
        text = (
            "Xin lỗi, tôi chưa tìm được hướng dẫn chắc chắn đúng cho câu hỏi này, nên không muốn trả lời "
            "đoán. Bạn có thể hỏi lại rõ hơn (ví dụ: tên thủ tục, lỗi đang gặp), hoặc để tôi chuyển bạn "
            f"đến tổng đài viên. {call}"
        )
    return [
        {
            "text": text,
            "buttons": [
                {"title": "Gặp tổng đài viên", "payload": payload("request_human")},
            ],
        },
        DecisionPayload.from_dict(meta).message(),
    ]


def out_of_scope_messages(hotline: Hotline, decision: Decision | None) -> list[dict]:
    meta = decision.as_metadata() if decision else {"decision": "abstain", "guide_ids": []}
    meta.update({"decision": "abstain", "guide_ids": [], "reason": "out_of_scope"})
    text = (
        "Xin lỗi, tôi chỉ hỗ trợ các câu hỏi về ứng dụng VNeID và dịch vụ công trực tuyến "
        "(tài khoản định danh, nộp hồ sơ, tra cứu, thanh toán lệ phí…). Bạn cần hỏi gì về các việc này không?"
    )
    return [{"text": text}, DecisionPayload.from_dict(meta).message()]
