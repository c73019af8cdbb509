"""The report as one self-contained HTML page: inline CSS, an inline SVG chart, no script, no link.

The page is the Jinja2 template ``insights/templates/report.html``, rendered with autoescape: every
piece of recorded or configured text is escaped (:func:`html.escape`); citizens' questions are data,
never markup. The chart is built here, its text escaped the same way.
"""

from __future__ import annotations

import functools
import math
from html import escape
from pathlib import Path

import jinja2
from markupsafe import Markup

from insights.report_data import DAILY_COLUMNS as REPORT_COLUMNS
from insights.report_data import KIND_LABELS, Report

MAX_HTML_GROUPS = 200
TEMPLATES = Path(__file__).with_name("templates")
DAILY_COLUMNS = REPORT_COLUMNS[1:]  # the HTML table has the day in its first cell
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
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Số lượt theo ngày">'
    ]
    for value in range(0, y_max + 1, y_step):
        y = top + plot_h - plot_h * value / y_max
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e0e0e0"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>'
        )
    label_every = max(1, math.ceil(n / 16))
    for i, day in enumerate(daily):
        x = left + i * step + (step - bar_w) / 2
        y = top + plot_h
        tip = ", ".join(f"{label} {sum(day[c] for c in cols)}" for label, _, cols in SERIES)
        parts.append(f"<g><title>{_e(day['day'])}: {_e(tip)}</title>")
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
            parts.append(
                f'<text x="{left + i * step + step / 2:.1f}" y="{top + plot_h + 16}" '
                f'text-anchor="middle">{_e(label)}</text>'
            )
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>')
    parts.append("</svg>")
    legend = "".join(
        f'<span><i class="sw" style="background:{colour}"></i>{_e(label)}</span>' for label, colour, _ in SERIES
    )
    return f'<div class="legend">{legend}</div>' + "".join(parts)


def _kinds_vi(kinds) -> str:
    return ", ".join(f"{KIND_LABELS.get(k, k)}: {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))


def _escape(value) -> Markup:
    """``html.escape`` (quotes as ``&quot;`` / ``&#x27;``) for every value the template prints."""
    return value if isinstance(value, Markup) else Markup(escape("" if value is None else str(value), quote=True))


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        finalize=_escape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("report.html")


def render_html(report: Report) -> str:
    """The page (insights/templates/report.html, autoescaped) with the chart inline."""
    t = report.totals
    cards = [
        ("Lượt ghi nhận", report.records),
        ("Trả lời", t.get("answered", 0)),
        ("Hỏi lại để chọn bài", t.get("clarified", 0)),
        ("Không trả lời", t.get("abstained", 0) + t.get("out_of_scope", 0)),
        ("Mời gặp tổng đài viên", t.get("offered_handoff", 0)),
        ("Chuyển tổng đài viên", t.get("handoff", 0)),
        ("👍 / 👎", f"{t.get('feedback_helpful', 0)} / {t.get('feedback_not_helpful', 0)}"),
    ]
    method = (
        "mô hình ngữ nghĩa " + report.method.split(":", 1)[1].rsplit("/", 1)[-1]
        if report.method.startswith("embedding:")
        else "từ ngữ (TF-IDF theo ký tự, bỏ dấu)"
    )
    threshold_note = (
        f" Điểm từ {report.answer_threshold:.2f} trở lên (và rõ hơn bài thứ hai) thì trợ lý trả lời."
        if report.answer_threshold is not None
        else ""
    )
    return _template().render(
        report=report,
        cards=cards,
        css=Markup(CSS),
        chart=Markup(chart_svg(report.daily)),
        method=method,
        threshold=f"{report.threshold:g}",
        threshold_note=threshold_note,
        max_groups=MAX_HTML_GROUPS,
        daily_columns=DAILY_COLUMNS,
        kinds_vi=_kinds_vi,
    )
