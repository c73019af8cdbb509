"""What the bot says around a handoff (Vietnamese). Messages have the shape actions/replies.py uses:
``{"text": ..., "buttons": [...]}`` or ``{"custom": {...}}``."""

from __future__ import annotations

from core.decision import DecisionPayload
from core.settings import Hotline
from handoff.hours import Schedule
from core.privacy import mask_phone

NO_SECRETS = "Xin đừng gửi mật khẩu, mã OTP hay mã bảo vệ (passcode) cho bất kỳ ai, kể cả tổng đài viên."
OFFER_QUESTION = "Bạn muốn được chuyển đến tổng đài viên không?"
CLOSED_TEXT = (
    "Tổng đài viên đã kết thúc cuộc trò chuyện. Cảm ơn bạn! Từ bây giờ trợ lý ảo tiếp tục hỗ trợ bạn; "
    "khi cần, bạn cứ nhắn câu hỏi."
)
RETURNED_TEXT = (
    "Tổng đài viên đã chuyển bạn lại cho trợ lý ảo. Bạn cứ tiếp tục đặt câu hỏi về VNeID hoặc dịch vụ công nhé."
)

CLAIMED_TEXT = (
    "Một tổng đài viên đã tiếp nhận cuộc trò chuyện và sẽ trả lời bạn ngay tại đây. Bạn cứ nhắn thêm thông tin nếu cần."
)


def position_text(position: int) -> str:
    """What a citizen still waiting hears when the queue moves."""
    if position <= 1:
        return "Cập nhật hàng chờ: bạn là người tiếp theo, tổng đài viên sẽ trả lời bạn ngay khi rảnh."
    return f"Cập nhật hàng chờ: bạn đang ở vị trí số {position}. Cảm ơn bạn đã kiên nhẫn chờ."


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
            "buttons": [
                {"title": "Có, chuyển giúp tôi", "payload": "/affirm"},
                {"title": "Không, tôi hỏi tiếp", "payload": "/deny"},
            ],
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
            "buttons": [
                {"title": "Có, chuyển giúp tôi", "payload": "/affirm"},
                {"title": "Không, tôi hỏi tiếp", "payload": "/deny"},
            ],
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
