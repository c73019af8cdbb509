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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from core.settings import PROJECT_ROOT, timezone_name
from insights.grouping import EmbeddingVectors, Group, Occurrence, TfidfVectors, group_questions

DEFAULT_OUT = PROJECT_ROOT / "var" / "reports"
DEFAULT_DAYS = 30
# Groups whose closest guide is looked up in the index (one search each, ~0.2 s with the model).
MAX_CLOSEST = 300

KIND_LABELS = {
    "answered": "trả lời",
    "clarified": "hỏi lại để chọn bài",
    "abstained": "không trả lời",
    "out_of_scope": "ngoài phạm vi",
    "offered_handoff": "mời gặp tổng đài viên",
    "handoff": "chuyển tổng đài viên",
    "feedback_helpful": "phản hồi hữu ích",
    "feedback_not_helpful": "phản hồi chưa hữu ích",
}
# Decisions that mean "the bot could not (fully) answer this question".
UNANSWERED_KINDS = ("abstained", "out_of_scope", "offered_handoff", "handoff", "clarified")
DAILY_COLUMNS = ("day", "answered", "clarified", "abstained", "out_of_scope", "offered_handoff", "handoff",
                 "feedback_helpful", "feedback_not_helpful", "total")
GROUP_COLUMNS = ("group", "count", "conversations", "records", "kinds", "representative", "example_1", "example_2",
                 "example_3", "closest_guide", "closest_title", "closest_score", "route", "route_title",
                 "top_guess", "first_day", "last_day")
FEEDBACK_COLUMNS = ("guide_id", "title", "helpful", "not_helpful", "total", "helpful_share", "answered")


class ReportError(RuntimeError):
    """The report cannot be made (database unreachable, bad arguments); the message is for staff."""


@dataclass
class Report:
    since: str | None
    until: str
    records: int
    daily: list[dict]
    groups: list[Group]
    feedback: list[dict]
    totals: Counter
    method: str
    threshold: float
    answer_threshold: float | None = None
    notes: list[str] = field(default_factory=list)
    generated: str = ""
    # Guides not reviewed for review_months (retrieval.outdated.guides_due_for_review), for staff to re-check.
    due_for_review: list[dict] = field(default_factory=list)
    review_months: int = 0


def _kind(row: dict) -> str:
    if row["kind"] == "feedback":
        return "feedback_helpful" if row.get("outcome") == "helpful" else "feedback_not_helpful"
    return row["kind"]


def daily_counts(rows: list[dict], until: str | None = None) -> list[dict]:
    """One dict per day (``DAILY_COLUMNS``), every day from the first recorded one to ``until``."""
    if not rows:
        return []
    per_day: dict[str, Counter] = {}
    for row in rows:
        per_day.setdefault(row["day"], Counter())[_kind(row)] += 1
    first = date.fromisoformat(min(per_day))
    last = date.fromisoformat(max([*per_day, until] if until else per_day))
    result = []
    for offset in range((last - first).days + 1):
        day = (first + timedelta(days=offset)).isoformat()
        counts = per_day.get(day, Counter())
        entry = {"day": day, **{c: counts.get(c, 0) for c in DAILY_COLUMNS[1:-1]}}
        entry["total"] = sum(counts.values())
        result.append(entry)
    return result


def feedback_summary(rows: list[dict], titles: dict[str, str] | None = None) -> list[dict]:
    """Per guide: helpful / not helpful, the helpful share and how often it answered; most "no" first."""
    titles = titles or {}
    helpful, unhelpful, answered = Counter(), Counter(), Counter()
    for row in rows:
        guide = row.get("guide_id")
        if not guide:
            continue
        if row["kind"] == "feedback":
            (helpful if row.get("outcome") == "helpful" else unhelpful)[guide] += 1
        elif row["kind"] == "answered":
            answered[guide] += 1
    result = []
    for guide in set(helpful) | set(unhelpful):
        total = helpful[guide] + unhelpful[guide]
        result.append({"guide_id": guide, "title": titles.get(guide, ""), "helpful": helpful[guide],
                       "not_helpful": unhelpful[guide], "total": total,
                       "helpful_share": round(helpful[guide] / total, 3) if total else None,
                       "answered": answered[guide]})
    result.sort(key=lambda r: (-r["not_helpful"], r["helpful_share"] if r["helpful_share"] is not None else 1,
                               r["guide_id"]))
    return result


def unanswered(rows: list[dict]) -> list[Occurrence]:
    """The recorded questions the bot did not answer, or answered unhelpfully."""
    found = []
    for row in rows:
        kind = _kind(row)
        if kind not in UNANSWERED_KINDS and kind != "feedback_not_helpful":
            continue
        text = (row.get("question") or "").strip()
        if not text or text.startswith("/"):
            continue
        found.append(Occurrence(text=text, kind=row["kind"], conversation=row["conversation"], day=row["day"],
                                outcome=row.get("outcome"), guesses=row.get("guesses") or []))
    return found


def key_things_of(searcher) -> Callable[[str], frozenset[str]] | None:
    """Text -> ids of the specific key things it names (the searcher's spaCy key terms), or None."""
    keyterms = getattr(searcher, "keyterms", None) if searcher is not None else None
    if keyterms is None:
        return None
    from retrieval.keyterms import SPECIFIC

    def key_things(text: str) -> frozenset[str]:
        return frozenset(e.term.id for e in keyterms.extract(text) if e.term.label in SPECIFIC)

    return key_things


def attach_closest(groups: list[Group], searcher, limit: int = MAX_CLOSEST) -> int:
    """Fill ``group.closest`` from the searcher's ranking of each group's representative question.

    ``closest``: ``{id, title, score}`` of the best-ranked guide, plus ``route`` / ``route_title``
    when a routing entry (knowledge/routing.yml) ranked above every guide. Returns how many were done.
    """
    guides = searcher.index.guides
    done = 0
    for group in groups[:limit]:
        decision = searcher.decide(group.representative)
        ranked = decision.ranked
        best = next((r for r in ranked if r.kind == "guide"), None)
        # an uncovered-catalogue procedure the answerability check routed to (knowledge/uncovered/)
        # counts as a route too; otherwise a routing.yml entry ranked above every guide
        route = decision.route or (ranked[0] if ranked and ranked[0].kind != "guide" else None)
        group.closest = {
            "id": best.guide_id if best else None,
            "title": guides[best.guide_id].title if best else None,
            "score": round(float(best.score), 3) if best else None,
            "route": f"{route.kind}:{route.guide_id}" if route else None,
            "route_title": guides[route.guide_id].title if route else None,
            "key_terms": [e.term.name for e in decision.entities],  # key things named (spaCy)
        }
        done += 1
    return done


def build_report(rows: list[dict], *, until: str, since: str | None = None, vectorize=None,
                 threshold: float | None = None, searcher=None, titles: dict[str, str] | None = None,
                 notes: list[str] | None = None, max_closest: int = MAX_CLOSEST) -> Report:
    """Everything the files show, from recorded rows (``Store.interactions``).

    Args:
        rows: Interaction rows.
        until: Last day of the period (the chart runs to it).
        since: First day of the period, for the heading (None: from the first record).
        vectorize: Texts -> L2-normalised rows (default: :class:`TfidfVectors`).
        threshold: Grouping similarity threshold (default: the vectoriser's).
        searcher: A :class:`retrieval.search.Searcher` for the closest guide (None: left empty).
        titles: Guide id -> title (default: from the searcher's index).
        notes: Remarks to show (model or index missing...).
        max_closest: Groups whose closest guide is looked up.
    """
    vectorize = vectorize or TfidfVectors()
    threshold = threshold if threshold is not None else vectorize.threshold
    notes = list(notes or [])
    if titles is None:
        titles = {g.id: g.title for g in searcher.index.guides.values()} if searcher is not None else {}
    groups = group_questions(unanswered(rows), vectorize, threshold, key_things=key_things_of(searcher))
    if searcher is not None and groups:
        done = attach_closest(groups, searcher, max_closest)
        if done < len(groups):
            notes.append(f"Chỉ tìm bài gần nhất cho {done} nhóm lớn nhất (trong {len(groups)} nhóm).")
    answer_threshold = float(searcher.thresholds.answer) if searcher is not None else None
    return Report(since=since, until=until, records=len(rows), daily=daily_counts(rows, until), groups=groups,
                  feedback=feedback_summary(rows, titles), totals=Counter(_kind(r) for r in rows),
                  method=getattr(vectorize, "name", "tfidf"), threshold=threshold,
                  answer_threshold=answer_threshold, notes=notes,
                  generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M"))


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
        rows.append({"group": number, "count": g.count, "conversations": g.conversations, "records": g.records,
                     "kinds": kinds_text(g.kinds), "representative": g.representative,
                     "example_1": examples[0], "example_2": examples[1], "example_3": examples[2],
                     "closest_guide": closest.get("id"), "closest_title": closest.get("title"),
                     "closest_score": closest.get("score"), "route": closest.get("route"),
                     "route_title": closest.get("route_title"), "top_guess": g.top_guess,
                     "first_day": g.first_day, "last_day": g.last_day})
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
        lines = [f"Chưa có lượt hỏi đáp nào được ghi nhận trong khoảng {period}.",
                 "Các file báo cáo vẫn được tạo (rỗng). Kiểm tra: trợ lý ảo đang chạy, "
                 "DVC_RECORD_INTERACTIONS không đặt bằng 0, và HANDOFF_DATABASE_URL trỏ đúng cơ sở dữ liệu."]
    else:
        questions = sum(t.get(k, 0) for k in ("answered", "clarified", "abstained", "out_of_scope"))

        def share(n: int) -> str:
            return f"{n} ({100 * n / questions:.0f}%)" if questions else str(n)

        lines = [f"Khoảng thời gian {period}: {report.records} lượt ghi nhận, {questions} câu hỏi được tìm trong "
                 "hướng dẫn.",
                 f"  trả lời: {share(t.get('answered', 0))}; hỏi lại để chọn bài: {share(t.get('clarified', 0))}; "
                 f"không trả lời: {share(t.get('abstained', 0))}; ngoài phạm vi: {share(t.get('out_of_scope', 0))}",
                 f"  mời gặp tổng đài viên: {t.get('offered_handoff', 0)}; chuyển tổng đài viên: "
                 f"{t.get('handoff', 0)}; phản hồi hữu ích / chưa hữu ích: {t.get('feedback_helpful', 0)} / "
                 f"{t.get('feedback_not_helpful', 0)}",
                 f"{len(report.groups)} nhóm câu hỏi chưa trả lời được (gom theo {report.method}, ngưỡng "
                 f"{report.threshold:g})."]
        for number, g in enumerate(report.groups[:top], 1):
            closest = g.closest or {}
            near = f" — gần nhất: {closest['id']} ({closest['score']:.2f})" if closest.get("id") else ""
            if closest.get("route"):
                near += f"; routing.yml: {closest['route']}"
            if closest.get("key_terms"):
                near += f"; nhắc tới: {', '.join(closest['key_terms'])}"
            lines.append(f"  {number}. [{g.count} lượt, {g.conversations} cuộc trò chuyện] {g.representative}{near}")
    if report.due_for_review:
        lines.append(f"{len(report.due_for_review)} bài hướng dẫn chưa được rà soát lại quá {report.review_months} "
                     "tháng (xem report.html): " + ", ".join(d["guide_id"] for d in report.due_for_review[:top])
                     + (", …" if len(report.due_for_review) > top else ""))
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
        raw = url[len("sqlite:///"):]
    elif "://" in url:
        raise ReportError(f"địa chỉ cơ sở dữ liệu không hỗ trợ: {url.split('@')[-1]} (dùng sqlite:///đường/dẫn "
                          "hoặc postgresql://...)")
    else:
        raw = url
    path = Path(raw).expanduser()
    path = path if path.is_absolute() else PROJECT_ROOT / path
    if not path.is_file():
        raise ReportError(f"không tìm thấy file cơ sở dữ liệu {path} (HANDOFF_DATABASE_URL / --database-url). "
                          "Trợ lý ảo chưa chạy lần nào, hoặc địa chỉ sai.")
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
        description="Báo cáo câu hỏi trợ lý ảo chưa trả lời được và phản hồi của người dân")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="số ngày gần nhất (mặc định 30)")
    parser.add_argument("--since", help="từ ngày (năm-tháng-ngày), thay cho --days")
    parser.add_argument("--until", help="đến ngày (năm-tháng-ngày), mặc định hôm nay")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="thư mục ghi báo cáo (mặc định var/reports)")
    parser.add_argument("--database-url", help="cơ sở dữ liệu (mặc định HANDOFF_DATABASE_URL)")
    parser.add_argument("--lexical", action="store_true",
                        help="gom nhóm theo từ (TF-IDF), không tải mô hình ngữ nghĩa (nhanh hơn)")
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
