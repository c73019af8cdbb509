"""OpenAPI 3 description of the agent API (served at /api/openapi.json)."""

from __future__ import annotations


def _op(
    summary: str, responses: dict, body: dict | None = None, params: list | None = None, public: bool = False
) -> dict:
    op: dict = {"summary": summary, "responses": {str(k): {"description": v} for k, v in responses.items()}}
    if not public:
        op["responses"].setdefault("401", {"description": "chưa đăng nhập / phiên hết hạn"})
    else:
        op["security"] = []
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
REVEAL = {
    "name": "reveal",
    "in": "query",
    "required": False,
    "schema": {"type": "boolean"},
    "description": "Hiện đầy đủ số định danh / số điện thoại (chỉ người đang xử lý; có ghi nhật ký).",
}


def spec() -> dict:
    conv = "/api/conversations/{id}"
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Tổng đài viên — API chuyển tiếp hội thoại",
            "version": "1.0",
            "description": "Hàng chờ hội thoại được trợ lý ảo chuyển sang người, nhận xử lý, trả lời vào "
            "kênh của người dân, kết thúc hoặc trả lại cho trợ lý ảo. Mọi đường dẫn trừ "
            "/api/login cần đăng nhập (cookie phiên HttpOnly hoặc Authorization: Bearer).",
        },
        "components": {
            "securitySchemes": {
                "cookie": {"type": "apiKey", "in": "cookie", "name": "handoff_session"},
                "bearer": {"type": "http", "scheme": "bearer"},
            }
        },
        "security": [{"cookie": []}, {"bearer": []}],
        "paths": {
            "/api/login": {
                "post": _op(
                    "Đăng nhập; trả về token và đặt cookie phiên",
                    {
                        200: "đã đăng nhập",
                        400: "thiếu dữ liệu",
                        401: "sai tên hoặc mật khẩu",
                        429: "quá nhiều lần sai, thử lại sau",
                    },
                    body={
                        "type": "object",
                        "required": ["username", "password"],
                        "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
                    },
                    public=True,
                )
            },
            "/api/logout": {"post": _op("Đăng xuất", {200: "đã đăng xuất"})},
            "/api/me": {"get": _op("Tài khoản đang đăng nhập", {200: "thông tin tổng đài viên"})},
            "/api/heartbeat": {"post": _op("Báo đang trực (mỗi 30 giây)", {200: "số người trực, độ dài hàng chờ"})},
            "/api/queue": {"get": _op("Hàng chờ và các hội thoại đang xử lý", {200: "danh sách"})},
            conv: {
                "get": _op(
                    "Hội thoại: bối cảnh, nội dung (đã che số cá nhân), tin nhắn mới của người dân",
                    {200: "hội thoại", 403: "đang do tổng đài viên khác xử lý", 404: "không có"},
                    params=ID + [REVEAL],
                )
            },
            conv + "/claim": {
                "post": _op(
                    "Nhận xử lý (chỉ một người nhận được)",
                    {200: "đã nhận", 409: "đã có người nhận hoặc không còn trong hàng chờ"},
                    params=ID,
                )
            },
            conv + "/reply": {
                "post": _op(
                    "Trả lời vào kênh của người dân",
                    {
                        200: "đã gửi",
                        403: "hội thoại của người khác",
                        409: "chưa nhận xử lý",
                        502: "không gửi được qua Rasa",
                    },
                    body={
                        "type": "object",
                        "required": ["text"],
                        "properties": {"text": {"type": "string", "maxLength": 2000}},
                    },
                    params=ID,
                )
            },
            conv + "/release": {
                "post": _op(
                    "Trả về hàng chờ",
                    {200: "đã trả", 403: "hội thoại của người khác", 409: "không ở trạng thái đang xử lý"},
                    params=ID,
                )
            },
            conv + "/close": {
                "post": _op(
                    "Kết thúc; trợ lý ảo trả lời lại",
                    {
                        200: "đã kết thúc",
                        403: "hội thoại của người khác",
                        409: "chưa nhận xử lý",
                        502: "không ghi được vào Rasa",
                    },
                    params=ID,
                )
            },
            conv + "/hand-back": {
                "post": _op(
                    "Trả lại cho trợ lý ảo",
                    {
                        200: "đã trả lại",
                        403: "hội thoại của người khác",
                        409: "chưa nhận xử lý",
                        502: "không ghi được vào Rasa",
                    },
                    params=ID,
                )
            },
            "/api/callbacks": {"get": _op("Yêu cầu gọi lại đang mở", {200: "danh sách"}, params=[REVEAL])},
            "/api/callbacks/{id}/done": {
                "post": _op(
                    "Đánh dấu đã gọi lại",
                    {200: "xong", 409: "đã xong trước đó"},
                    params=[{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                )
            },
            "/api/deliveries": {
                "get": _op("Tin trả lời không tới được người dân (Zalo/Messenger)", {200: "danh sách"})
            },
            "/api/conversations/{id}/deliveries": {
                "get": _op("Tin trả lời không tới được người dân trong hội thoại này", {200: "danh sách"}, params=ID)
            },
            "/api/openapi.json": {"get": _op("Mô tả API này", {200: "OpenAPI 3"})},
        },
    }
