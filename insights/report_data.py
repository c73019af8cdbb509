"""What the report holds (:class:`Report`) and how it is computed from the recorded interactions: the
counts per day, the feedback per guide, and the unanswered questions grouped with their closest guide.
``python -m insights.report`` reads the rows and writes the files; insights/html.py renders the page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from insights.grouping import Group, Occurrence, TfidfVectors, group_questions


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
DAILY_COLUMNS = (
    "day",
    "answered",
    "clarified",
    "abstained",
    "out_of_scope",
    "offered_handoff",
    "handoff",
    "feedback_helpful",
    "feedback_not_helpful",
    "total",
)


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
        result.append(
            {
                "guide_id": guide,
                "title": titles.get(guide, ""),
                "helpful": helpful[guide],
                "not_helpful": unhelpful[guide],
                "total": total,
                "helpful_share": round(helpful[guide] / total, 3) if total else None,
                "answered": answered[guide],
            }
        )
    result.sort(
        key=lambda r: (-r["not_helpful"], r["helpful_share"] if r["helpful_share"] is not None else 1, r["guide_id"])
    )
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
        found.append(
            Occurrence(
                text=text,
                kind=row["kind"],
                conversation=row["conversation"],
                day=row["day"],
                outcome=row.get("outcome"),
                guesses=row.get("guesses") or [],
            )
        )
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


def build_report(
    rows: list[dict],
    *,
    until: str,
    since: str | None = None,
    vectorize=None,
    threshold: float | None = None,
    searcher=None,
    titles: dict[str, str] | None = None,
    notes: list[str] | None = None,
    max_closest: int = MAX_CLOSEST,
) -> Report:
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
    return Report(
        since=since,
        until=until,
        records=len(rows),
        daily=daily_counts(rows, until),
        groups=groups,
        feedback=feedback_summary(rows, titles),
        totals=Counter(_kind(r) for r in rows),
        method=getattr(vectorize, "name", "tfidf"),
        threshold=threshold,
        answer_threshold=answer_threshold,
        notes=notes,
        generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M"),
    )
