"""A tiny knowledge folder for fast offline tests (shared by tests/retrieval and tests/actions).

Three small guides on clearly different topics, written in the real guide format
(docs/guide-format.md), plus helpers to write them to a folder and build an index with the
dependency-free :class:`~retrieval.encoders.HashingEncoder`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from retrieval.decision import Thresholds

# Fixed decision thresholds, so the tests do not move when retrieval/thresholds.json is
# re-calibrated for the real embedding model.
TEST_THRESHOLDS = Thresholds(dense_weight=0.5, top_k=3, answer=0.55, margin=0.04, clarify_floor=0.5, context_bonus=0.08)

FORGOT_PASSWORD = """\
---
id: vneid_forgot_password
title: Quên mật khẩu đăng nhập VNeID
summary: >-
  Quên mật khẩu VNeID, bạn bấm "Quên mật khẩu" ở màn hình đăng nhập rồi nhập mã OTP gửi về
  số điện thoại đã đăng ký để đặt mật khẩu mới.
agency: Bộ Công an
questions:
  - Quên mật khẩu VNeID thì lấy lại thế nào?
  - quen mat khau vneid thi lam sao
  - mk vneid e quên r, lấy lại kiểu gì ạ
  - Đặt lại mật khẩu VNeID mà mã OTP hết hạn thì sao?
  - reset mat khau vneid
tags: [vneid, mật khẩu]
sources:
  - https://example.gov.vn/quen-mat-khau
updated: 2026-11-28
---

## Các bước lấy lại mật khẩu VNeID
1. Ở màn hình đăng nhập VNeID, bấm "Quên mật khẩu".
2. Nhập số định danh cá nhân và số điện thoại đã đăng ký.
3. Nhập mã OTP gửi về điện thoại và đặt mật khẩu mới.

## Khi nào cần gọi tổng đài
Không nhận được OTP để đặt lại mật khẩu VNeID: gọi {hotline} ({hotline_hours}) tại {province}.
"""

ACTIVATE = """\
---
id: vneid_activate
title: Kích hoạt tài khoản định danh điện tử VNeID
summary: >-
  Kích hoạt tài khoản định danh điện tử mức 2 trên ứng dụng VNeID bằng cách quét chip NFC trên
  thẻ căn cước công dân rồi nhập mã kích hoạt.
agency: Bộ Công an
questions:
  - Kích hoạt tài khoản định danh điện tử VNeID như thế nào?
  - kich hoat tai khoan dinh danh dien tu
  - tk định danh mức 2 kích hoạt ntn
  - Điện thoại không có NFC thì kích hoạt VNeID được không?
  - quét chip căn cước mãi không được khi kích hoạt
tags: [vneid, kích hoạt, nfc]
sources:
  - https://example.gov.vn/kich-hoat
updated: 2026-11-28
---

## Các bước kích hoạt tài khoản VNeID
1. Mở ứng dụng VNeID, chọn "Kích hoạt tài khoản định danh điện tử".
2. Đặt thẻ căn cước công dân vào mặt sau điện thoại để quét chip NFC.
3. Nhập mã kích hoạt gửi về số điện thoại.

## Điện thoại không có NFC khi kích hoạt VNeID
Nếu điện thoại không hỗ trợ NFC, bạn mượn điện thoại khác có NFC hoặc đến công an xã, phường để
được hỗ trợ kích hoạt tài khoản VNeID.
"""

TRAFFIC_FINES = """\
---
id: dvc_traffic_fines
title: Nộp phạt vi phạm giao thông trực tuyến
summary: >-
  Nộp tiền phạt vi phạm giao thông trên Cổng Dịch vụ công quốc gia bằng mã quyết định xử phạt,
  thanh toán qua ngân hàng hoặc ví điện tử.
agency: Cảnh sát giao thông
questions:
  - Nộp phạt vi phạm giao thông online thế nào?
  - nop phat nguoi tren dich vu cong
  - bị phạt nguội xe máy đóng tiền phạt ở đâu
  - Tra cứu quyết định xử phạt giao thông để nộp tiền
  - đóng phạt giao thông qua ví điện tử được không
tags: [phạt, giao thông]
sources:
  - https://example.gov.vn/nop-phat
updated: 2026-11-28
---

## Các bước nộp phạt giao thông
1. Đăng nhập Cổng Dịch vụ công quốc gia.
2. Chọn "Nộp phạt vi phạm hành chính giao thông", nhập mã quyết định xử phạt.
3. Thanh toán tiền phạt qua ngân hàng hoặc ví điện tử.

## Sau khi nộp phạt giao thông
Giữ biên lai điện tử; giấy tờ bị tạm giữ được trả lại sau khi nộp phạt.
"""

GUIDES = {
    "vneid_forgot_password": FORGOT_PASSWORD,
    "vneid_activate": ACTIVATE,
    "dvc_traffic_fines": TRAFFIC_FINES,
}

ROUTING = """\
handoff:
  - id: handoff_complaint
    title: Khiếu nại, phản ánh về cán bộ hoặc cơ quan
    questions:
      - Tôi muốn khiếu nại cán bộ tiếp nhận hồ sơ
      - thái độ phục vụ của cán bộ rất kém, tôi cần báo lên cấp trên
uncovered:
  - id: uncovered_marriage
    title: Đăng ký kết hôn, ly hôn
    questions:
      - thủ tục đăng ký kết hôn cần giấy tờ gì
      - thủ tục ly hôn thuận tình nộp ở đâu
"""

# A fourth guide used to show that a new build is picked up.
PASSPORT = """\
---
id: dvc_passport
title: Cấp hộ chiếu phổ thông trực tuyến
summary: >-
  Đề nghị cấp hộ chiếu phổ thông trên Cổng Dịch vụ công, chụp ảnh chân dung và nộp lệ phí trực tuyến.
questions:
  - Làm hộ chiếu online thế nào?
  - cap ho chieu pho thong truc tuyen
  - xin passport đi du lịch nước ngoài
tags: [hộ chiếu]
sources:
  - https://example.gov.vn/ho-chieu
updated: 2026-11-28
---

## Các bước làm hộ chiếu
1. Đăng nhập Cổng Dịch vụ công, chọn "Cấp hộ chiếu phổ thông".
2. Tải ảnh chân dung nền trắng, nộp lệ phí cấp hộ chiếu.
"""


def guide_text(**fields: object) -> str:
    """A valid guide, with ``fields`` overriding or (value None) removing front-matter fields."""
    base: dict[str, object] = {
        "id": "sample_guide",
        "title": "Tiêu đề mẫu",
        "summary": "Tóm tắt mẫu.",
        "questions": ["câu hỏi một", "câu hỏi hai"],
        "sources": ["https://example.gov.vn/mau"],
        "updated": "2026-11-28",
    }
    base.update(fields)
    lines = ["---"]
    for key, value in base.items():
        if value is None:
            continue
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines += [f"  - {item}" for item in value]
        else:
            lines.append(f"{key}: {value}")
    lines.append("---")
    lines.append(
        textwrap.dedent("""
        ## Các bước
        1. Bước một.

        ## Khi nào cần gọi tổng đài
        Gọi {hotline}.
        """)
    )
    return "\n".join(lines)


def write_kb(folder: Path, guides: dict[str, str] | None = None, routing: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (GUIDES if guides is None else guides).items():
        (folder / f"{name}.md").write_text(text, encoding="utf-8")
    if routing is not None:
        (folder / "routing.yml").write_text(routing, encoding="utf-8")
    return folder


def build(knowledge: Path, index_dir: Path, encoder=None):
    """Build and publish quietly; returns (build path, problems, log lines)."""
    from retrieval.index import build_index

    logs: list[str] = []
    path, problems = build_index(knowledge, index_dir, encoder, log=logs.append)
    return path, problems, logs


def publish_tiny_index(tmp_path: Path, monkeypatch) -> Path:
    """Build the tiny index (3 guides + routing entries) and point the service's settings at it."""
    from retrieval.encoders import HashingEncoder

    knowledge = write_kb(tmp_path / "knowledge", routing=ROUTING)
    folder = tmp_path / "index"
    path, problems, _ = build(knowledge, folder, HashingEncoder())
    assert path is not None and not problems
    monkeypatch.setenv("DVC_INDEX_DIR", str(folder))
    monkeypatch.setenv("DVC_KNOWLEDGE_DIR", str(knowledge))
    return folder
