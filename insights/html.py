"""The report as one self-contained HTML page: inline CSS, an inline SVG chart, no script, no link.

Every piece of recorded or configured text goes through :func:`html.escape`; citizens' questions
are data, never markup.
"""

from __future__ import annotations

import math
from html import escape

from insights.report import KIND_LABELS, Report

MAX_HTML_GROUPS = 200
# Chart series: (label, colour, daily.csv columns summed).
SERIES = (
    ("trả lời", "#2e7d32", ("answered",)),
    ("hỏi lại để chọn bài", "#1565c0", ("clarified",)),
    ("không trả lời / ngoài phạm vi", "#ef6c00", ("abstained", "out_of_scope")),
    ("chuyển tổng đài viên", "#c62828", ("handoff",)),
)
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:24px;color:#212121;max-width:1200px}
h1{font-size:1.5em;margin-bottom:4px}h2{font-size:1.2em;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.muted{color:#666;font-size:.9em}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:120px}.card b{display:block;font-size:1.4em}
table{border-collapse:collapse;width:100%;font-size:.92em}th,td{border:1px solid #ddd;padding:6px;vertical-align:top;
text-align:left}th{background:#f5f5f5}td.d{white-space:nowrap}td.n{text-align:right;white-space:nowrap}
ul{margin:4px 0;padding-left:18px}
.legend span{display:inline-block;margin-right:16px}.sw{display:inline-block;width:12px;height:12px;margin-right:4px;
vertical-align:middle}.note{background:#fff8e1;border:1px solid #ffe082;padding:6px 10px;margin:6px 0}
svg text{font-size:11px;fill:#444}
"""


def _e(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def _nice_step(maximum: int) -> int:
    if maximum <= 5:
        return 1
    raw = maximum / 5
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)


def chart_svg(daily: list[dict]) -> str:
    """Stacked bars per day: answered, clarified, abstained / out of scope, handed off."""
    if not daily:
        return '<p class="muted">Chưa có dữ liệu để vẽ biểu đồ.</p>'
    n = len(daily)
    left, top, plot_h, bottom = 44, 10, 220, 36
    plot_w = min(1100, max(360, n * 26))
    step = plot_w / n
    bar_w = max(1.0, step * 0.72)
    totals = [sum(d[c] for _, _, cols in SERIES for c in cols) for d in daily]
    y_step = _nice_step(max(totals) or 1)
    y_max = max(y_step, math.ceil((max(totals) or 1) / y_step) * y_step)
    width, height = left + plot_w + 10, top + plot_h + bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="Số lượt theo ngày">']
    for value in range(0, y_max + 1, y_step):
        y = top + plot_h - plot_h * value / y_max
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e0e0e0"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    label_every = max(1, math.ceil(n / 16))
    for i, day in enumerate(daily):
        x = left + i * step + (step - bar_w) / 2
        y = top + plot_h
        tip = ", ".join(f"{label} {sum(day[c] for c in cols)}" for label, _, cols in SERIES)
        parts.append(f'<g><title>{_e(day["day"])}: {_e(tip)}</title>')
        for _, colour, cols in SERIES:
            value = sum(day[c] for c in cols)
            if not value:
                continue
            h = plot_h * value / y_max
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}"/>')
        parts.append("</g>")
        last_labelled = (n - 1) // label_every * label_every
        if i % label_every == 0 or (i == n - 1 and i - last_labelled >= max(2, label_every // 2 + 1)):
            label = f"{day['day'][8:10]}/{day['day'][5:7]}"
            parts.append(f'<text x="{left + i * step + step / 2:.1f}" y="{top + plot_h + 16}" '
                         f'text-anchor="middle">{_e(label)}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>')
    parts.append("</svg>")
    legend = "".join(f'<span><i class="sw" style="background:{colour}"></i>{_e(label)}</span>'
                     for label, colour, _ in SERIES)
    return f'<div class="legend">{legend}</div>' + "".join(parts)


def _kinds_vi(kinds) -> str:
    return ", ".join(f"{_e(KIND_LABELS.get(k, k))}: {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))


def _groups_table(report: Report) -> str:
    if not report.groups:
        return '<p class="muted">Không có câu hỏi nào chưa trả lời được trong khoảng thời gian này.</p>'
    rows = []
    for number, g in enumerate(report.groups[:MAX_HTML_GROUPS], 1):
        examples = "".join(f"<li>{_e(x)}</li>" for x in g.examples)
        closest = g.closest or {}
        if closest.get("id"):
            near = (f'{_e(closest["title"])}<br><span class="muted">{_e(closest["id"])} · điểm '
                    f'{closest["score"]:.2f}</span>')
        elif g.top_guess:
            near = f'<span class="muted">bot đoán: {_e(g.top_guess)}</span>'
        else:
            near = ""
        if closest.get("route"):
            near += (f'<br><span class="muted">routing.yml: {_e(closest["route"])} '
                     f'({_e(closest.get("route_title"))})</span>')
        days = _e(g.first_day) if g.first_day == g.last_day else f"{_e(g.first_day)} – {_e(g.last_day)}"
        rows.append(f"<tr><td class=n>{number}</td><td><ul>{examples}</ul></td><td class=n>{g.count}</td>"
                    f"<td class=n>{g.conversations}</td><td>{_kinds_vi(g.kinds)}</td><td>{near}</td>"
                    f"<td class=d>{days}</td></tr>")
    more = (f'<p class="muted">Trang này hiện {MAX_HTML_GROUPS} nhóm đầu trong {len(report.groups)} nhóm; '
            "xem đầy đủ trong groups.csv.</p>" if len(report.groups) > MAX_HTML_GROUPS else "")
    return ("<table><thead><tr><th>#</th><th>Câu hỏi (tiêu biểu trước)</th><th>Số lượt hỏi</th>"
            "<th>Số cuộc trò chuyện</th><th>Trợ lý ảo đã</th><th>Bài hướng dẫn gần nhất</th><th>Ngày</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>{more}")


def _feedback_table(report: Report) -> str:
    if not report.feedback:
        return '<p class="muted">Chưa có phản hồi «Câu trả lời có giúp ích không?» trong khoảng thời gian này.</p>'
    rows = []
    for f in report.feedback:
        share = f"{100 * f['helpful_share']:.0f}%" if f["helpful_share"] is not None else ""
        title = _e(f["title"]) or _e(f["guide_id"])
        rows.append(f'<tr><td>{title}<br><span class="muted">{_e(f["guide_id"])}</span></td>'
                    f"<td class=n>{f['helpful']}</td><td class=n>{f['not_helpful']}</td><td class=n>{share}</td>"
                    f"<td class=n>{f['answered']}</td></tr>")
    return ("<table><thead><tr><th>Bài hướng dẫn</th><th>👍 Hữu ích</th><th>👎 Chưa hữu ích</th>"
            "<th>Tỷ lệ hữu ích</th><th>Số lần trả lời</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _review_table(report: Report) -> str:
    """Guides not reviewed for ``review_months``: staff check them against the latest facts."""
    if not report.due_for_review:
        return ""
    rows = "".join(
        f'<tr><td>{_e(d["title"])}<br><span class="muted">{_e(d["guide_id"])}</span></td>'
        f'<td>{_e(d["reviewed"] or "(chưa ghi)")}</td><td class=n>{_e("" if d["months"] is None else d["months"])}</td>'
        "</tr>" for d in report.due_for_review)
    return (f"<h2>Bài hướng dẫn cần rà soát lại ({len(report.due_for_review)} bài)</h2>"
            f'<p class="muted">Chưa được rà soát quá {report.review_months} tháng (trường «reviewed»): đối chiếu lại '
            "với thông tin mới nhất (luật, cơ quan, số điện thoại, lệ phí), sửa bài nếu cần rồi ghi ngày rà soát "
            "mới; chạy <code>make check-knowledge</code>.</p><table><thead><tr><th>Bài hướng dẫn</th>"
            f"<th>Rà soát lần cuối</th><th>Số tháng</th></tr></thead><tbody>{rows}</tbody></table>")


def _daily_table(report: Report) -> str:
    if not report.daily:
        return ""
    head = ("<tr><th>Ngày</th><th>Trả lời</th><th>Hỏi lại</th><th>Không trả lời</th><th>Ngoài phạm vi</th>"
            "<th>Mời gặp TĐV</th><th>Chuyển TĐV</th><th>👍</th><th>👎</th><th>Tổng</th></tr>")
    cols = ("answered", "clarified", "abstained", "out_of_scope", "offered_handoff", "handoff", "feedback_helpful",
            "feedback_not_helpful", "total")
    body = "".join(f"<tr><td>{_e(d['day'])}</td>" + "".join(f"<td class=n>{d[c]}</td>" for c in cols) + "</tr>"
                   for d in report.daily)
    return (f"<details><summary>Số liệu từng ngày</summary><table><thead>{head}</thead><tbody>{body}</tbody>"
            "</table></details>")


def render_html(report: Report) -> str:
    t = report.totals
    cards = [("Lượt ghi nhận", report.records), ("Trả lời", t.get("answered", 0)),
             ("Hỏi lại để chọn bài", t.get("clarified", 0)),
             ("Không trả lời", t.get("abstained", 0) + t.get("out_of_scope", 0)),
             ("Mời gặp tổng đài viên", t.get("offered_handoff", 0)), ("Chuyển tổng đài viên", t.get("handoff", 0)),
             ("👍 / 👎", f"{t.get('feedback_helpful', 0)} / {t.get('feedback_not_helpful', 0)}")]
    card_html = "".join(f'<div class="card">{_e(label)}<b>{_e(value)}</b></div>' for label, value in cards)
    notes = "".join(f'<p class="note">{_e(n)}</p>' for n in report.notes)
    empty = ("" if report.records else '<p class="note">Chưa có lượt hỏi đáp nào được ghi nhận trong khoảng thời '
             "gian này.</p>")
    method = ("mô hình ngữ nghĩa " + report.method.split(":", 1)[1].rsplit("/", 1)[-1]
              if report.method.startswith("embedding:") else "từ ngữ (TF-IDF theo ký tự, bỏ dấu)")
    threshold_note = (f" Điểm từ {report.answer_threshold:.2f} trở lên (và rõ hơn bài thứ hai) thì trợ lý trả lời."
                      if report.answer_threshold is not None else "")
    return f"""<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Báo cáo câu hỏi chưa trả lời được</title><style>{CSS}</style></head><body>
<h1>Câu hỏi trợ lý ảo chưa trả lời được</h1>
<p class="muted">Từ {_e(report.since or "đầu")} đến {_e(report.until)} · tạo lúc {_e(report.generated)} ·
số điện thoại, số định danh, mật khẩu đã được che trước khi lưu.</p>
{empty}{notes}
<div class="cards">{card_html}</div>
<h2>Theo ngày</h2>
{chart_svg(report.daily)}
{_daily_table(report)}
<h2>Nhóm câu hỏi chưa trả lời được ({len(report.groups)} nhóm)</h2>
<p class="muted">Gồm các câu trợ lý không trả lời, ngoài phạm vi, phải hỏi lại, mời hoặc chuyển tổng đài viên, và
câu trả lời bị đánh giá chưa hữu ích. Câu hỏi giống nhau được gom theo {_e(method)} (ngưỡng
{report.threshold:g}). «Số lượt hỏi» đếm mỗi câu hỏi một lần trong mỗi cuộc trò chuyện. «Bài hướng dẫn gần nhất»:
bài tìm kiếm xếp đầu cho câu tiêu biểu, với điểm của nó.{_e(threshold_note)}</p>
{_groups_table(report)}
<h2>Phản hồi theo bài hướng dẫn</h2>
{_feedback_table(report)}
{_review_table(report)}
<p class="muted">Cách đọc và xử lý báo cáo: knowledge/README.md, mục 5. Các cột: docs/insights.md.</p>
</body></html>
"""
