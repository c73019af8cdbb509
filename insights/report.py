"""What citizens asked that the bot could not answer: ``python -m insights.report`` (``make report``).

Usage::

    python -m insights.report [--days 30 | --since 2026-11-01 [--until 2026-11-30]]
                              [--out var/reports] [--database-url URL] [--lexical]

Reads the ``interactions`` the action server recorded (insights/recording.py) from the handoff
store (``HANDOFF_DATABASE_URL``), then writes to ``--out``:

* ``groups.csv``: the questions the bot did not answer (abstained, out of scope, offered or handed
  to a person, asked to choose, answer marked not helpful) grouped by similarity, biggest first:
  how many, from how many conversations, examples, the closest existing guide and its score;
* ``daily.csv``: per day, how many questions were answered, clarified, abstained, out of scope,
  offered to / handed to a person, and the feedback;
* ``feedback.csv``: per guide, "helpful?" yes / no and how often it answered;
* ``report.html``: one self-contained page with a chart per day and the two tables.

Grouping uses the search's embedding model when it loads (``--lexical``: character n-gram TF-IDF,
no model, a few seconds); the closest guide comes from the published index (``make index``).
Exit status: 0 with a report (also when there is nothing to report), 2 when the database cannot
be read or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from core.settings import PROJECT_ROOT, timezone_name
from insights.grouping import EmbeddingVectors, Group, TfidfVectors
from insights.report_data import DAILY_COLUMNS, Report, build_report, unanswered

DEFAULT_OUT = PROJECT_ROOT / "var" / "reports"
DEFAULT_DAYS = 30
GROUP_COLUMNS = (
    "group",
    "count",
    "conversations",
    "records",
    "kinds",
    "representative",
    "example_1",
    "example_2",
    "example_3",
    "closest_guide",
    "closest_title",
    "closest_score",
    "route",
    "route_title",
    "top_guess",
    "first_day",
    "last_day",
)
FEEDBACK_COLUMNS = ("guide_id", "title", "helpful", "not_helpful", "total", "helpful_share", "answered")


class ReportError(RuntimeError):
    """The report cannot be made (database unreachable, bad arguments); the message is for staff."""


# ---------------------------------------------------------------------------------------------- files


def _cell(value) -> object:
    """A CSV cell; text that a spreadsheet would run as a formula is prefixed with ``'``."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    # UTF-8 with a BOM: Excel then opens Vietnamese text correctly.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])


def kinds_text(kinds: Counter) -> str:
    return "; ".join(f"{k}={n}" for k, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))


def group_rows(groups: list[Group]) -> list[dict]:
    rows = []
    for number, g in enumerate(groups, 1):
        closest = g.closest or {}
        examples = g.examples + [""] * 3
        rows.append(
            {
                "group": number,
                "count": g.count,
                "conversations": g.conversations,
                "records": g.records,
                "kinds": kinds_text(g.kinds),
                "representative": g.representative,
                "example_1": examples[0],
                "example_2": examples[1],
                "example_3": examples[2],
                "closest_guide": closest.get("id"),
                "closest_title": closest.get("title"),
                "closest_score": closest.get("score"),
                "route": closest.get("route"),
                "route_title": closest.get("route_title"),
                "top_guess": g.top_guess,
                "first_day": g.first_day,
                "last_day": g.last_day,
            }
        )
    return rows


def write_files(report: Report, out: Path) -> dict[str, Path]:
    """Write groups.csv, daily.csv, feedback.csv and report.html into ``out``; returns their paths."""
    from insights.html import render_html

    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("report.html", "groups.csv", "daily.csv", "feedback.csv")}
    _write_csv(paths["groups.csv"], GROUP_COLUMNS, group_rows(report.groups))
    _write_csv(paths["daily.csv"], DAILY_COLUMNS, report.daily)
    _write_csv(paths["feedback.csv"], FEEDBACK_COLUMNS, report.feedback)
    paths["report.html"].write_text(render_html(report), encoding="utf-8")
    return paths


def summary_text(report: Report, paths: dict[str, Path] | None = None, top: int = 5) -> str:
    """A short Vietnamese summary for the terminal."""
    t = report.totals
    period = f"{report.since or '(đầu)'} → {report.until}"
    if not report.records:
        lines = [
            f"Chưa có lượt hỏi đáp nào được ghi nhận trong khoảng {period}.",
            "Các file báo cáo vẫn được tạo (rỗng). Kiểm tra: trợ lý ảo đang chạy, "
            "DVC_RECORD_INTERACTIONS không đặt bằng 0, và HANDOFF_DATABASE_URL trỏ đúng cơ sở dữ liệu.",
        ]
    else:
        questions = sum(t.get(k, 0) for k in ("answered", "clarified", "abstained", "out_of_scope"))

        def share(n: int) -> str:
            return f"{n} ({100 * n / questions:.0f}%)" if questions else str(n)

        lines = [
            f"Khoảng thời gian {period}: {report.records} lượt ghi nhận, {questions} câu hỏi được tìm trong hướng dẫn.",
            f"  trả lời: {share(t.get('answered', 0))}; hỏi lại để chọn bài: {share(t.get('clarified', 0))}; "
            f"không trả lời: {share(t.get('abstained', 0))}; ngoài phạm vi: {share(t.get('out_of_scope', 0))}",
            f"  mời gặp tổng đài viên: {t.get('offered_handoff', 0)}; chuyển tổng đài viên: "
            f"{t.get('handoff', 0)}; phản hồi hữu ích / chưa hữu ích: {t.get('feedback_helpful', 0)} / "
            f"{t.get('feedback_not_helpful', 0)}",
            f"{len(report.groups)} nhóm câu hỏi chưa trả lời được (gom theo {report.method}, ngưỡng "
            f"{report.threshold:g}).",
        ]
        for number, g in enumerate(report.groups[:top], 1):
            closest = g.closest or {}
            near = f" — gần nhất: {closest['id']} ({closest['score']:.2f})" if closest.get("id") else ""
            if closest.get("route"):
                near += f"; routing.yml: {closest['route']}"
            if closest.get("key_terms"):
                near += f"; nhắc tới: {', '.join(closest['key_terms'])}"
            lines.append(f"  {number}. [{g.count} lượt, {g.conversations} cuộc trò chuyện] {g.representative}{near}")
    if report.due_for_review:
        lines.append(
            f"{len(report.due_for_review)} bài hướng dẫn chưa được rà soát lại quá {report.review_months} "
            "tháng (xem report.html): "
            + ", ".join(d["guide_id"] for d in report.due_for_review[:top])
            + (", …" if len(report.due_for_review) > top else "")
        )
    lines += [f"LƯU Ý: {n}" for n in report.notes]
    if paths:
        lines.append("Đã ghi:")
        lines += [f"  {p}" for p in paths.values()]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- command line


def _period(args: argparse.Namespace, tz: ZoneInfo) -> tuple[str | None, str]:
    if args.days < 1:
        raise ReportError("--days phải từ 1 trở lên")
    today = datetime.now(tz).date()
    try:
        until = date.fromisoformat(args.until) if args.until else today
        since = date.fromisoformat(args.since) if args.since else until - timedelta(days=args.days - 1)
    except ValueError as exc:
        raise ReportError(f"ngày phải có dạng năm-tháng-ngày, ví dụ 2026-11-28 ({exc})") from exc
    if since > until:
        raise ReportError(f"--since {since} sau --until {until}")
    return since.isoformat(), until.isoformat()


def _database_url(explicit: str | None) -> str:
    from insights.recording import _database_url as configured

    url = (explicit or "").strip() or configured()
    if url.startswith(("postgresql://", "postgres://")):
        return url
    if url.startswith("sqlite:///"):
        raw = url[len("sqlite:///") :]
    elif "://" in url:
        raise ReportError(
            f"địa chỉ cơ sở dữ liệu không hỗ trợ: {url.split('@')[-1]} (dùng sqlite:///đường/dẫn hoặc postgresql://...)"
        )
    else:
        raw = url
    path = Path(raw).expanduser()
    path = path if path.is_absolute() else PROJECT_ROOT / path
    if not path.is_file():
        raise ReportError(
            f"không tìm thấy file cơ sở dữ liệu {path} (HANDOFF_DATABASE_URL / --database-url). "
            "Trợ lý ảo chưa chạy lần nào, hoặc địa chỉ sai."
        )
    return f"sqlite:///{path}"


def _read_rows(url: str, since: str | None, until: str) -> list[dict]:
    from handoff.store import Store

    store = Store(url)
    try:
        return store.interactions(since, until)
    except Exception as exc:  # StoreError, sqlite3 / psycopg errors: one message for staff
        raise ReportError(f"không đọc được cơ sở dữ liệu {store!r}: {exc}") from exc
    finally:
        store.close()


def _search_tools(lexical: bool, need_groups: bool) -> tuple[object | None, object | None, list[str]]:
    """(searcher, vectoriser, notes): the published index and, unless ``lexical``, the embedding model."""
    from core.settings import load_settings
    from retrieval.service import SearchService

    notes = []
    settings = load_settings()
    use_model = need_groups and not lexical and settings.embedding_model.lower() != "none"
    service = SearchService(settings, load_model=use_model)
    searcher = None
    service_log = logging.getLogger("retrieval.service")
    level = service_log.level
    if not use_model:
        service_log.setLevel(logging.ERROR)  # "no embedding model loaded" is on purpose here
    try:
        searcher = service.searcher()
    except Exception as exc:  # noqa: BLE001 - no index: the report still works without the closest guide
        notes.append(f"không mở được chỉ mục tìm kiếm ({exc}): cột «bài gần nhất» để trống; chạy `make index`.")
    finally:
        service_log.setLevel(level)
    if searcher is not None and not use_model and searcher.index.vectors is not None and need_groups:
        notes.append("--lexical: bài gần nhất được tìm chỉ theo từ khóa, điểm có thể khác với trợ lý ảo đang chạy.")
    encoder = service.encoder if use_model else None
    if use_model and encoder is None:
        notes.append("không tải được mô hình ngữ nghĩa: gom nhóm theo từ (TF-IDF), nhóm có thể kém hơn.")
    if encoder is not None:
        restorer = getattr(searcher, "_restorer", None)  # the search's own diacritic restorer, if an index loaded
        return searcher, EmbeddingVectors(encoder, restorer.restore if restorer else None), notes
    return searcher, TfidfVectors(), notes


def run(args: argparse.Namespace) -> tuple[Report, dict[str, Path]]:
    tz = ZoneInfo(timezone_name())
    since, until = _period(args, tz)
    rows = _read_rows(_database_url(args.database_url), since, until)
    searcher, vectorize, notes = _search_tools(args.lexical, bool(unanswered(rows)))
    report = build_report(rows, since=since, until=until, vectorize=vectorize, searcher=searcher, notes=notes)
    report.due_for_review, report.review_months = _due_for_review()
    return report, write_files(report, Path(args.out))


def _due_for_review() -> tuple[list[dict], int]:
    """Guides not reviewed recently (knowledge/outdated.yml: review_months); nothing if they cannot be read."""
    from core.settings import load_settings
    from retrieval.outdated import guides_due_for_review

    try:
        return guides_due_for_review(load_settings().knowledge_dir)
    except Exception:  # the report on citizens' questions must not fail because of this list
        logging.getLogger(__name__).exception("could not list the guides due for review")
        return [], 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m insights.report",
        description="Báo cáo câu hỏi trợ lý ảo chưa trả lời được và phản hồi của người dân",
    )
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="số ngày gần nhất (mặc định 30)")
    parser.add_argument("--since", help="từ ngày (năm-tháng-ngày), thay cho --days")
    parser.add_argument("--until", help="đến ngày (năm-tháng-ngày), mặc định hôm nay")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="thư mục ghi báo cáo (mặc định var/reports)")
    parser.add_argument("--database-url", help="cơ sở dữ liệu (mặc định HANDOFF_DATABASE_URL)")
    parser.add_argument(
        "--lexical", action="store_true", help="gom nhóm theo từ (TF-IDF), không tải mô hình ngữ nghĩa (nhanh hơn)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        report, paths = run(args)
    except ReportError as exc:
        print(f"LỖI: {exc}", file=sys.stderr)
        return 2
    print(summary_text(report, paths))
    print(f"({time.perf_counter() - started:.1f} giây)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
