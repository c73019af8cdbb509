"""Compose the bot's replies from a decision: pure functions, no Rasa, easy to test.

Every reply that answers from a guide, asks to choose, abstains or hands off carries
machine-readable metadata as a separate custom payload ``{"dvc": {...}}`` (decision, guide ids,
scores), which the evaluator and the handoff console read. Channels drop it before sending.
"""

from __future__ import annotations

import json

from core.decision import DecisionPayload
from core.privacy import mask_phone
from core.settings import Hotline
from handoff.hours import Schedule
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


# ---- fixed wording of the answer rules (actions/answer_rules.py decides, actions/answer.py sends)
POLICY_ADVICE = {
    "stolen_phone": (
        "Việc cần làm trước: khóa tạm tài khoản VNeID ngay, bằng cách gọi tổng đài 1900 0368, đến công an "
        "xã, phường, hoặc đăng nhập VNeID trên một máy khác để yêu cầu khóa. Nếu trong máy có ứng dụng "
        "ngân hàng, hãy gọi ngay ngân hàng để khóa tài khoản, và trình báo công an."
    ),
    "money_lost": (
        "Việc cần làm ngay: (1) gọi tổng đài ngân hàng của bạn để khóa tài khoản, thẻ và đề nghị phong tỏa "
        "giao dịch; (2) trình báo công an xã, phường nơi gần nhất (gọi 113 nếu khẩn cấp), mang theo tin "
        "nhắn, số điện thoại, sao kê làm bằng chứng; (3) nếu đã cài ứng dụng lạ hoặc đưa mật khẩu, khóa tài "
        "khoản VNeID qua tổng đài 1900 0368. Không làm theo bất kỳ ai gọi tới hứa «lấy lại tiền»."
    ),
    "wrong_data": (
        "Thông tin cá nhân trên tài khoản định danh (họ tên, ngày sinh, giới tính, quê quán, nơi thường "
        "trú…) lấy từ Cơ sở dữ liệu quốc gia về dân cư; tôi và ứng dụng không tự sửa được. Muốn điều "
        "chỉnh, bạn mang thẻ căn cước và giấy tờ chứng minh thông tin đúng đến công an xã, phường nơi cư "
        "trú để được kiểm tra, cập nhật."
    ),
    "complaint": (
        "Phản ánh, khiếu nại về cán bộ, về cách tiếp nhận hồ sơ cần người xem xét trực tiếp; tôi không tự "
        "giải quyết được. Bạn nên ghi lại thời gian, nơi làm việc và nội dung sự việc."
    ),
    "dossier": (
        "Trường hợp hồ sơ cụ thể của bạn (quá hẹn, bị trả về không rõ lý do, đã trừ tiền mà chưa cập nhật) "
        "cần cán bộ kiểm tra trực tiếp; tôi không xem được hồ sơ của bạn. Bạn chuẩn bị sẵn mã hồ sơ và "
        "biên lai (nếu có)."
    ),
}

SAFETY_ACK = {
    "otp_now": (
        "Bạn làm đúng rồi: không đọc mã, cúp máy. Nếu lỡ cung cấp thông tin, hãy đổi mật khẩu, báo ngay ngân "
        "hàng và công an xã, phường. Tôi vẫn ở đây nếu bạn cần hỏi thêm."
    ),
    "transfer_now": (
        "Bạn làm đúng rồi: không chuyển tiền. Hãy báo nhân viên ngân hàng và công an xã, phường về cuộc gọi "
        "này. Tôi vẫn ở đây nếu bạn cần hỏi thêm."
    ),
}

SAFETY_ACK_DEFAULT = (
    "Mong bạn và mọi người an toàn. Trong lúc chờ, hãy ở nơi an toàn và giữ điện thoại bên mình; nếu "
    "tình hình xấu đi, gọi lại ngay số khẩn cấp. Khi cần, bạn cứ nhắn cho tôi."
)

SECRET_ADVICE = (
    "Trợ lý ảo, tổng đài viên, công an và ngân hàng không bao giờ hỏi mã OTP, mật khẩu hay mã bảo vệ "
    "(passcode) của bạn. Không đọc, không đưa các mã này cho bất kỳ ai, kể cả người xưng là cán bộ."
)

SHARED_ADVICE = (
    "Đã đưa mật khẩu cho người khác thì nên đổi mật khẩu VNeID ngay (dùng «Quên mật khẩu» nếu cần) và "
    "không đưa mật khẩu, mã OTP, mã bảo vệ cho ai nữa. Nếu thấy tài khoản bị dùng lạ, khóa tạm tài khoản "
    "qua tổng đài 1900 0368 hoặc công an xã, phường."
)

FACET_NOTE = {
    "fee": "Về lệ phí: hướng dẫn này chưa có mức phí được xác nhận; bạn nên hỏi lại cơ quan tiếp nhận hoặc gọi tổng đài.",  # noqa: E501
    "time": "Về thời gian: hướng dẫn này chưa có thời hạn được xác nhận; bạn nên hỏi lại cơ quan tiếp nhận.",
}

# ---- offers, feedback and choices (actions/answer.py, actions/conversation.py)
HUMAN_OFFER_TEXT = "Bạn có muốn được chuyển đến tổng đài viên để được hỗ trợ trực tiếp không?"
HUMAN_OFFER_YES = "Có, chuyển giúp tôi"
HUMAN_OFFER_NO = "Không, tôi hỏi tiếp"
FEEDBACK_THANKS = "Cảm ơn bạn đã phản hồi!"
THANKS = "Cảm ơn bạn!"
ANYTHING_ELSE = " Bạn còn cần hỏi gì thêm không?"  # after FEEDBACK_THANKS / THANKS
NOT_HELPFUL_SORRY = (
    "Xin lỗi vì câu trả lời chưa giúp được bạn. Bạn có thể hỏi lại cụ thể hơn, "
    "hoặc để tôi chuyển bạn đến tổng đài viên."
)
MEET_AGENT = "Gặp tổng đài viên"
NONE_OF_THESE = "Không phải các mục trên"
CHOOSE_ONE = "Bạn chọn giúp tôi một mục dưới đây, hoặc gõ rõ hơn bạn cần việc nào nhé."
DESCRIBE_MORE = "Vâng. Bạn mô tả thêm việc bạn cần làm, hoặc để tôi chuyển bạn đến tổng đài viên."


def _offer_buttons() -> list[dict]:
    return [{"title": HUMAN_OFFER_YES, "payload": "/affirm"}, {"title": HUMAN_OFFER_NO, "payload": "/deny"}]


def human_offer() -> dict:
    """The "shall I hand you to an agent?" message with its yes/no buttons (a new dict each time)."""
    return {"text": HUMAN_OFFER_TEXT, "buttons": _offer_buttons()}


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


# ---- around a handoff (actions/conversation.py; the console's own wording is in handoff/messages.py)
NO_SECRETS = "Xin đừng gửi mật khẩu, mã OTP hay mã bảo vệ (passcode) cho bất kỳ ai, kể cả tổng đài viên."
OFFER_QUESTION = "Bạn muốn được chuyển đến tổng đài viên không?"


def _dvc(reason: str, **extra) -> dict:
    return DecisionPayload("handoff", [], {"reason": reason, **extra}).message()


def queued_messages(hotline: Hotline, position: int, reason: str, handoff_id: str) -> list[dict]:
    place = "Bạn là người tiếp theo" if position <= 1 else f"Bạn đang ở vị trí số {position} trong hàng chờ"
    text = (
        f"Tôi đã chuyển cuộc trò chuyện của bạn đến tổng đài viên của {hotline.name}. {place}; tổng đài viên "
        f"sẽ trả lời ngay tại đây. Trong lúc chờ, trợ lý ảo tạm dừng trả lời, bạn cứ nhắn thêm thông tin "
        f"(tổng đài viên sẽ đọc được). Bạn cũng có thể gọi {hotline.contact}. {NO_SECRETS}"
    )
    return [{"text": text}, _dvc(reason, handoff="queued", position=position, handoff_id=handoff_id)]


def offline_messages(hotline: Hotline, schedule: Schedule, why: str, reason: str, callback: bool) -> list[dict]:
    if why == "closed_hours":
        now = (
            f"Hiện ngoài giờ tổng đài viên trực tuyến ({schedule.describe_vi()}), nên tôi chưa chuyển "
            f"cuộc trò chuyện được."
        )
    elif why == "no_agent":
        now = "Hiện chưa có tổng đài viên trực tuyến nào rảnh, nên tôi chưa chuyển cuộc trò chuyện được."
    else:
        now = "Hiện tôi chưa chuyển cuộc trò chuyện đến tổng đài viên được."
    text = f"{now} Bạn vui lòng gọi {hotline.contact} để được hỗ trợ trực tiếp. {NO_SECRETS}"
    messages = [{"text": text}]
    if callback:
        messages.append(
            {
                "text": "Hoặc bạn có muốn để lại họ tên và số điện thoại để tổng đài viên gọi lại cho "
                "bạn trong giờ làm việc không?",
                "buttons": [
                    {"title": "Để lại số gọi lại", "payload": "/affirm"},
                    {"title": "Không cần", "payload": "/deny"},
                ],
            }
        )
    messages.append(_dvc(reason))
    return messages


def offer_messages(
    question: str | None,
    route_title: str | None,
    route_kind: str | None,
    reason: str,
    top_title: str | None = None,
    unhelpful_title: str | None = None,
) -> list[dict]:
    """One short turn: what the bot understood, then the question (buttons Có / Không)."""
    if unhelpful_title is not None:  # "" when the guide's title is unknown
        which = f"Hướng dẫn «{unhelpful_title}»" if unhelpful_title else "Câu trả lời"
        understood = f"{which} vừa rồi chưa giúp được bạn, và tôi chưa tìm được câu trả lời nào tốt hơn."
    elif route_kind == "handoff" and route_title:
        understood = f"Tôi hiểu bạn cần hỗ trợ về: «{route_title}». Việc này cần tổng đài viên xem trực tiếp."
    elif question:
        short = question if len(question) <= 120 else question[:117].rstrip() + "…"
        about = f" (gần nhất là «{top_title}», nhưng chưa chắc đúng)" if top_title else ""
        understood = f"Tôi hiểu bạn đang hỏi: «{short}»{about}, và tôi chưa trả lời chắc chắn được."
    else:
        understood = "Tôi chưa trả lời chắc chắn được câu hỏi của bạn."
    return [
        {
            "text": f"{understood} {OFFER_QUESTION}",
            "buttons": _offer_buttons(),
        },
        DecisionPayload("offer_handoff", [], {"reason": reason}).message(),
    ]


DECLINED_TEXT = "Vâng ạ. Bạn cứ hỏi tiếp; hỏi cụ thể hơn (tên thủ tục, lỗi đang gặp) sẽ giúp tôi tìm đúng hướng dẫn."
SITUATION_OFFER = {
    "stolen_phone": "Việc mất điện thoại còn đăng nhập VNeID cần xử lý ngay.",
    "money_lost": "Việc đã bị mất tiền cần được hỗ trợ trực tiếp.",
    "wrong_data": "Việc sửa thông tin cá nhân cần cán bộ kiểm tra hồ sơ của bạn.",
    "complaint": "Phản ánh của bạn cần tổng đài viên ghi nhận trực tiếp.",
    "dossier": "Hồ sơ cụ thể của bạn cần tổng đài viên kiểm tra trực tiếp.",
}


def situation_offer_messages(situation: str, reason: str) -> list[dict]:
    """The offer of a person after the advice for a policy situation (actions/answer.py)."""
    lead = SITUATION_OFFER.get(situation, "Việc này cần tổng đài viên xem trực tiếp.")
    return [
        {
            "text": f"{lead} {OFFER_QUESTION}",
            "buttons": _offer_buttons(),
        },
        DecisionPayload("offer_handoff", [], {"reason": reason}).message(),
    ]


def unavailable_messages(hotline: Hotline, reason: str) -> list[dict]:
    """The store could not be used: still tell the citizen how to reach a person."""
    return offline_messages(hotline, Schedule.parse(""), "error", reason, callback=False)


CALLBACK_BAD_NAME = "Họ tên cần từ 2 đến 60 chữ cái, không có chữ số. Bạn nhập lại giúp tôi nhé."
CALLBACK_BAD_PHONE = "Số điện thoại chưa đúng (10 chữ số, bắt đầu bằng 0, hoặc +84…). Bạn nhập lại giúp tôi nhé."
CALLBACK_BAD_CONSENT = "Bạn gõ «đồng ý» để tôi lưu thông tin, hoặc «không» để huỷ nhé."
CALLBACK_CANCELLED = "Tôi đã huỷ yêu cầu gọi lại và không lưu thông tin nào của bạn. Bạn cần hỏi gì thêm không?"
CALLBACK_FAILED = "Xin lỗi, hệ thống chưa lưu được yêu cầu gọi lại. Bạn vui lòng gọi trực tiếp {contact}."


def callback_saved(hotline: Hotline, phone: str) -> str:
    return (
        f"Tôi đã ghi nhận yêu cầu gọi lại đến số {mask_phone(phone)}. Tổng đài viên của {hotline.name} sẽ gọi "
        f"lại trong giờ làm việc. Khi cần gấp, bạn gọi {hotline.contact}."
    )
