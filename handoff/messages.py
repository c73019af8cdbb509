"""What the agent console (handoff/server.py) says to a citizen (Vietnamese): the queue moving, an
agent taking the conversation, handing it back. What the action server says around a handoff (the
offer, the queue, the call-back form) is in actions/replies.py."""

from __future__ import annotations


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
