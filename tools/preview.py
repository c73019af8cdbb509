"""Show what the bot would do with one question, and why: ``python -m tools.preview``.

Usage::

    python -m tools.preview "quên mật khẩu vneid" [--json] [--knowledge DIR]

Prints the decision (answer / ask to choose / do not answer and offer a person), the query with
diacritics restored, the 5 closest guides with their fused, lexical and dense scores, the
thresholds, and the reply text the citizen would see (composed by actions/replies.py, as the
action server does).

Without ``--knowledge`` it asks the published index, through the same
:func:`retrieval.service.get_service` the action server uses. With ``--knowledge DIR`` it first
builds a temporary index from that folder (nothing is published), so staff can try a guide before
running ``make index``; it uses the configured embedding model, or lexical search only (with a
warning) when the model cannot be loaded.

Only the search part of the bot is shown: Rasa's NLU handles greetings, thanks and requests for a
person before any search.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shutil
import sys
import tempfile
from pathlib import Path

from actions.replies import abstain_messages, answer_messages, clarify_messages
from core.settings import Settings, cache_root, env_override, load_settings
from core.text.normalize import normalize
from tools.check import display_path, format_problem
from retrieval.documents import load_guides
from retrieval.index import IndexLoadError, _slug, build_index
from retrieval.decision import Decision
from retrieval.search import Searcher
from retrieval.service import SearchService, get_service

TOP_N = 5
DECISION_LABELS = {
    "answer": "trả lời",
    "clarify": "hỏi lại để người dân chọn bài",
    "abstain": "không trả lời, chuyển tổng đài viên",
}
ROUTE_LABELS = {
    "handoff": "chuyển tổng đài viên theo quy định",
    "uncovered": "thủ tục chưa có hướng dẫn",
}


class PreviewError(RuntimeError):
    """The preview cannot run (no index, no valid guide); the message is for staff."""


def explain(decision: Decision, searcher: Searcher) -> str:
    """Why :func:`retrieval.decision.choose` made this decision, in Vietnamese.

    Args:
        decision: The decision.
        searcher: The searcher that made it (for thresholds and guide titles).

    Returns:
        One or two sentences.
    """
    t = searcher.thresholds
    guides = searcher.index.guides
    ranked = decision.ranked
    top = ranked[0] if ranked else None
    second = ranked[1] if len(ranked) > 1 else None
    if top is None:
        return "Chỉ mục không có bài nào."
    if decision.action == "abstain":
        if not normalize(decision.query):
            return "Câu hỏi trống hoặc không có chữ nào để tìm."
        routed = getattr(decision, "routed", None)
        if routed is not None:
            return (
                f"Câu hỏi nhắc tới '{guides[routed.guide_id].title}', một thủ tục trong danh mục chưa có bài "
                f"(knowledge/uncovered/), mà bài gần nhất {top.guide_id} không nói về thủ tục đó (title/tags): "
                "chatbot không trả lời từ bài này, nói rõ là chưa có hướng dẫn."
            )
        if top.score < t.answer:
            return (
                f"Điểm cao nhất {top.score:.3f} (bài {top.guide_id}) thấp hơn ngưỡng trả lời {t.answer:.3f}: "
                "không bài nào đủ chắc chắn, chatbot không trả lời đoán."
            )
        if top.kind != "guide":
            return (
                f"Câu hỏi gần nhất với mục '{guides[top.guide_id].title}' ({top.guide_id}) trong routing.yml, "
                f"nhóm {top.kind}: {ROUTE_LABELS.get(top.kind, top.kind)}, nên không trả lời từ hướng dẫn."
            )
        return (
            f"Bài {top.guide_id} đạt {top.score:.3f} nhưng mục định tuyến {second.guide_id if second else '?'} "
            f"trong routing.yml bám sát (cách dưới {t.margin:.3f}): không đủ chắc chắn để trả lời."
        )
    gap = top.score - second.score if second else None
    if decision.action == "answer":
        why = f"Bài {top.guide_id} đạt {top.score:.3f} ≥ ngưỡng trả lời {t.answer:.3f}"
        if second is None:
            return why + " và là bài duy nhất."
        if gap >= t.margin:
            return why + f", hơn bài thứ hai ({second.guide_id}) {gap:.3f} ≥ cách biệt cần có {t.margin:.3f}."
        return why + (
            f"; bài thứ hai ({second.guide_id}) chỉ đạt {second.score:.3f} < sàn hỏi lại {t.clarify_floor:.3f}."
        )
    return (
        f"Bài {top.guide_id} đạt {top.score:.3f} ≥ ngưỡng trả lời {t.answer:.3f} nhưng chỉ hơn bài thứ hai "
        f"({second.guide_id}) {gap:.3f} < cách biệt cần có {t.margin:.3f}: các bài "
        f"{', '.join(decision.guide_ids)} quá gần nhau nên chatbot hỏi lại người dân muốn hỏi bài nào."
    )


def reply_messages(decision: Decision, searcher: Searcher, settings: Settings) -> tuple[list[dict], int]:
    """The messages the action server would send (actions/answer.py) and the section shown.

    Args:
        decision: The decision.
        searcher: The searcher that made it.
        settings: For the hotline that fills the placeholders.

    Returns:
        (messages, index of the section shown or -1).
    """
    guides = searcher.index.guides
    if decision.action == "answer":
        guide = guides[decision.guide_ids[0]]
        section = searcher.best_section(decision, guide.id)
        return answer_messages(guide, section, settings.hotline, decision), section
    if decision.action == "clarify":
        return clarify_messages([guides[g] for g in decision.guide_ids], decision), -1
    return abstain_messages(settings.hotline, decision), -1


def citizen_text(messages: list[dict]) -> str:
    """What the citizen sees: the texts, buttons as ``[ title ]`` (metadata payloads left out).

    Args:
        messages: Reply messages as composed by actions/replies.py.

    Returns:
        The text, messages separated by blank lines.
    """
    parts = []
    for message in messages:
        if "text" not in message:
            continue
        text = message["text"]
        if message.get("buttons"):
            text += "\n" + "  ".join(f"[ {b['title']} ]" for b in message["buttons"])
        parts.append(text)
    return "\n\n".join(parts)


def build_report(
    question: str, searcher: Searcher, settings: Settings, source: str, notes: list[str] | None = None
) -> dict:
    """Everything the preview shows, as plain data (what ``--json`` prints).

    Args:
        question: The citizen's question.
        searcher: The searcher to ask.
        settings: Configuration (hotline for the reply text).
        source: "published" or "temporary" (built from ``--knowledge``).
        notes: Warnings to include (model unavailable, index out of date...).

    Returns:
        A JSON-serialisable dict with at least ``decision``, ``ranking`` and ``answer_text``.
    """
    decision = searcher.decide(question)
    messages, section = reply_messages(decision, searcher, settings)
    guides = searcher.index.guides
    meta = searcher.index.meta
    ranking = []
    for rank, r in enumerate(decision.ranked[:TOP_N], 1):
        guide = guides[r.guide_id]
        ranking.append(
            {
                "rank": rank,
                "id": r.guide_id,
                "title": guide.title,
                "kind": r.kind,
                "score": round(r.score, 4),
                "lexical": round(r.lexical, 4),
                "dense": round(r.dense, 4),
                "path": display_path(guide.path) if guide.path else "",
            }
        )
    chosen = guides[decision.guide_ids[0]] if decision.action == "answer" else None
    route = decision.route
    return {
        "question": question,
        "decision": decision.action,
        "decision_label": DECISION_LABELS[decision.action],
        "reason": explain(decision, searcher),
        "guide_ids": list(decision.guide_ids),
        "route": f"{route.kind}:{route.guide_id}" if route else None,
        "restored_query": decision.restored,
        "section": (
            {"index": section, "heading": chosen.sections[section].heading}
            if chosen is not None and 0 <= section < len(chosen.sections)
            else None
        ),
        "ranking": ranking,
        "thresholds": dataclasses.asdict(searcher.thresholds),
        "search": "hybrid" if searcher.dense_enabled else "lexical",
        "index": {
            "source": source,
            "build": searcher.index.path.name,
            "model": meta.get("model_id"),
            "guides": meta.get("guides"),
            "routes": meta.get("routes"),
        },
        "answer_text": citizen_text(messages),
        "messages": messages,
        "notes": list(notes or []),
    }


def _without_paths(guides) -> dict:
    return {g.id: dataclasses.replace(g, path="") for g in guides}


def _published(settings: Settings) -> tuple[Searcher, list[str]]:
    service = get_service()
    try:
        searcher = service.searcher()
    except IndexLoadError as exc:
        raise PreviewError(
            f"chưa có chỉ mục đã đăng ({exc}). Chạy `make index`, hoặc dùng --knowledge "
            "để xem thử trực tiếp từ thư mục hướng dẫn."
        ) from exc
    notes = []
    if searcher.index.vectors is not None and not searcher.dense_enabled:
        notes.append(
            "không tải được mô hình ngữ nghĩa: đang chỉ tìm theo từ khóa, kết quả có thể khác với "
            "chatbot thật (chạy `make setup`)."
        )
    guides, _ = load_guides(settings.knowledge_dir)
    if guides and _without_paths(guides) != _without_paths(searcher.index.guides.values()):
        notes.append(
            f"thư mục {display_path(str(settings.knowledge_dir))} đã thay đổi so với chỉ mục đang dùng: "
            "chạy `make index` để đăng, hoặc thêm --knowledge để xem thử bản chưa đăng."
        )
    return searcher, notes


@contextlib.contextmanager
def _private_embedding_cache(model_id: str):
    """Build against a copy of the embedding cache.

    :func:`retrieval.index.build_index` prunes the cache to the texts of the build it makes, so a
    temporary build of a few guides would otherwise throw away the vectors of all the others and
    make the next ``make index`` embed everything again.
    """
    shared = cache_root() / "embeddings" / f"{_slug(model_id)}.npz"
    with tempfile.TemporaryDirectory(prefix="dvc-preview-cache-") as tmp:
        private = Path(tmp) / cache_root().name / "embeddings"
        private.mkdir(parents=True)
        if shared.exists():
            shutil.copy2(shared, private / shared.name)
        with env_override("XDG_CACHE_HOME", tmp):
            yield


def preview(question: str, knowledge: Path | None = None, settings: Settings | None = None) -> dict:
    """Run the preview and return the report (see :func:`build_report`).

    Args:
        question: The citizen's question.
        knowledge: A guide folder to build a temporary index from; None uses the published index.
        settings: Configuration (default: :func:`core.settings.load_settings`).

    Returns:
        The report.

    Raises:
        PreviewError: No index to ask, or no valid guide in ``knowledge``.
    """
    from retrieval.encoders import load_encoder

    settings = settings or load_settings()
    if knowledge is None:
        searcher, notes = _published(settings)
        return build_report(question, searcher, settings, "published", notes)
    if not Path(knowledge).is_dir():
        raise PreviewError(f"không tìm thấy thư mục hướng dẫn {knowledge}")
    notes = []
    encoder = load_encoder(settings.embedding_model)
    if encoder is None and settings.embedding_model.lower() != "none":
        notes.append(
            f"không tải được mô hình ngữ nghĩa ({settings.embedding_model}): chỉ tìm theo từ khóa, "
            "kết quả có thể khác với chatbot thật (chạy `make setup`)."
        )
    with tempfile.TemporaryDirectory(prefix="dvc-preview-") as tmp:
        with _private_embedding_cache(encoder.model_id if encoder else "none"):
            build, problems = build_index(Path(knowledge), Path(tmp), encoder, log=lambda *_: None)
        notes += [f"bài bị bỏ qua hoặc cần xem lại: {format_problem(p)}" for p in problems if p.severity == "error"]
        if build is None:
            raise PreviewError(
                f"không có bài hướng dẫn hợp lệ nào trong {knowledge}: chạy `make check-knowledge` để xem lỗi."
            )
        service = SearchService(dataclasses.replace(settings, index_dir=Path(tmp)), encoder=encoder, load_model=False)
        searcher = service.searcher()
        return build_report(question, searcher, settings, "temporary", notes)


def format_report(report: dict) -> str:
    """The report as text for a terminal.

    Args:
        report: From :func:`build_report`.

    Returns:
        Printable Vietnamese text.
    """
    t = report["thresholds"]
    index = report["index"]
    source = (
        "chỉ mục tạm dựng từ thư mục --knowledge (chưa đăng)" if index["source"] == "temporary" else "chỉ mục đang dùng"
    )
    search = "từ khóa + ngữ nghĩa" if report["search"] == "hybrid" else "CHỈ từ khóa"
    origin = (
        f"Nguồn: {source} {index['build']} ({index['guides']} bài, {index['routes']} mục định tuyến; "
        f"mô hình {index['model']}; tìm theo {search})"
    )
    lines = [f"Câu hỏi: {report['question']}", f"Sau khi chuẩn hóa, khôi phục dấu: {report['restored_query']}", origin]
    lines += [f"LƯU Ý: {note}" for note in report["notes"]]
    decision = f"QUYẾT ĐỊNH: {report['decision_label'].upper()}"
    if report["decision"] == "answer":
        top = report["ranking"][0]
        decision += f" theo bài {top['id']} ({top['title']})"
        if report["section"]:
            decision += f', mục "{report["section"]["heading"] or "(đầu bài)"}"'
    elif report["decision"] == "clarify":
        decision += ": " + ", ".join(report["guide_ids"])
    lines += ["", decision, f"Lý do: {report['reason']}", ""]
    weight = t["dense_weight"] if report["search"] == "hybrid" else 0.0
    lines.append(
        f"{len(report['ranking'])} bài gần nhất (điểm tổng = {weight:g} × ngữ nghĩa + {1 - weight:g} × "
        f"từ khóa; mỗi điểm là trung bình {int(t['top_k'])} đoạn khớp nhất của bài):"
    )
    lines.append(f"  {'#':>2}  {'tổng':>6}  {'từ khóa':>7}  {'ngữ nghĩa':>9}  bài")
    for r in report["ranking"]:
        where = f"routing.yml: {r['kind']}" if r["kind"] != "guide" else r["path"]
        lines.append(
            f"  {r['rank']:>2}  {r['score']:>6.3f}  {r['lexical']:>7.3f}  {r['dense']:>9.3f}  "
            f"{r['id']} — {r['title']} [{where}]"
        )
    rule = (
        f"Ngưỡng: trả lời khi điểm bài đầu ≥ {t['answer']:.3f} và hơn bài thứ hai ≥ {t['margin']:.3f} "
        f"(hoặc bài thứ hai < {t['clarify_floor']:.3f}); nếu các bài sát nhau thì hỏi lại; còn lại không "
        "trả lời. (retrieval/thresholds.json; DVC_ANSWER_THRESHOLD, DVC_MARGIN_THRESHOLD nếu có đặt)"
    )
    lines += ["", rule, "", "Người dân sẽ thấy:", "-" * 60, report["answer_text"], "-" * 60]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        0 when the preview ran, 1 when it could not (no index, no valid guide, empty question).
    """
    parser = argparse.ArgumentParser(
        prog="python -m tools.preview", description="Xem thử chatbot sẽ trả lời một câu hỏi thế nào và vì sao"
    )
    parser.add_argument("question", help="câu hỏi của người dân, đặt trong ngoặc kép")
    parser.add_argument("--json", action="store_true", help="in kết quả dạng JSON")
    parser.add_argument(
        "--knowledge", type=Path, default=None, help="dựng chỉ mục tạm từ thư mục này (xem thử bài chưa đăng)"
    )
    args = parser.parse_args(argv)
    if not args.question.strip():
        print('Hãy nhập câu hỏi, ví dụ: make preview Q="quên mật khẩu vneid"', file=sys.stderr)
        return 1
    try:
        report = preview(args.question, args.knowledge)
    except PreviewError as exc:
        print(f"LỖI: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
