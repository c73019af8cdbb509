"""The Rasa process's own wording: what the channels (bot/channels/) say to a citizen themselves,
not the bot's answers (those come from the action server and domain.yml)."""

# Reply sent when a citizen sends a sticker, image, file, voice message, ...
NON_TEXT_REPLY = "Xin lỗi, hiện tôi chỉ đọc được tin nhắn chữ. Bạn vui lòng gõ câu hỏi nhé."
# Sentence shown above a numbered list of options (fallback when the platform
# cannot show all options as buttons).
NUMBERED_CHOICE_HINT = "Bạn vui lòng trả lời bằng số thứ tự của lựa chọn:"
# Who the web chat shows as the sender of an agent's message.
AGENT_LABEL = "Tổng đài viên"
# The web chat's answer when the bot failed to handle a message.
WEBCHAT_ERROR_REPLY = "Xin lỗi, hệ thống đang gặp sự cố nên chưa trả lời được. Bạn vui lòng thử lại sau ít phút."
# The web chat widget's title on the demo page.
WIDGET_TITLE = "Trợ lý ảo Dịch vụ công"
# Text of a Messenger button message when the response has buttons but no text.
MESSENGER_BUTTONS_TEXT = "Bạn chọn:"
