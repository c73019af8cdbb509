"""Evaluate the answer / clarify / abstain decision on a JSONL file of citizen messages.

Each line: ``{"text": ..., "expect": topic id or null, "kind": ...}``.

* Local mode (default) runs the same :class:`~retrieval.search.Searcher` decision the action
  server runs, on the published index.
* ``--url http://127.0.0.1:5005`` sends every line, from a fresh sender id, through the running
  bot's REST webhook and reads the decision from the replies' ``custom.dvc`` metadata, so Rasa's
  NLU (greetings, requests for a person, off-topic) is part of what is measured.

Usage::

    python -m evaluation.evaluate --file ../shared/eval/dev.jsonl [--split tune|heldout] [--json] [--url URL]
    python -m evaluation.evaluate --file eval/unseen.jsonl --no-keyterms   # without the spaCy check

``--split`` keeps the deterministic part of the file (by a hash of each line's text, see
:func:`split_of`): thresholds are tuned on ``tune`` only, ``heldout`` is for reporting.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from core.decision import DecisionPayload

ANSWERED = "answer"
CLARIFY = "clarify"


@dataclass
class Outcome:
    """What the bot did with one line."""

    action: str  # "answer" | "clarify" | "abstain" | "handoff" | "other"
    guide_ids: list[str]
    ranking: list[str]  # guide ids, best first (as far as known)


def read_lines(path: Path) -> list[dict]:
    lines = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"{path}:{number}: not JSON: {exc}") from None
        if "text" not in item or "expect" not in item:
            raise SystemExit(f"{path}:{number}: needs 'text' and 'expect'")
        item.setdefault("kind", "unknown")
        lines.append(item)
    return lines


HELDOUT_SHARE = 3  # one line in three is held back


def split_of(text: str) -> str:
    """``"heldout"`` for one line in three, by the SHA-1 of its text; ``"tune"`` for the rest.

    >>> split_of("quên mật khẩu vneid")
    'tune'
    """
    digest = int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16)
    return "heldout" if digest % HELDOUT_SHARE == 0 else "tune"


def outcome_from_metadata(meta: dict | None) -> Outcome:
    if not meta:
        return Outcome("other", [], [])
    ranking = [r["id"] for r in meta.get("ranking", [])]
    return Outcome(meta.get("decision", "other"), list(meta.get("guide_ids", [])), ranking)


def local_outcomes(lines: list[dict], keyterms: bool = True) -> list[Outcome]:
    from retrieval.search import Searcher
    from retrieval.service import get_service

    searcher = get_service().searcher()
    if not keyterms:
        searcher = Searcher(searcher.index, searcher.encoder, searcher.thresholds, None)
    outcomes = []
    for item in lines:
        decision = searcher.decide(item["text"])
        outcomes.append(Outcome(decision.action, decision.guide_ids, [r.guide_id for r in decision.ranked]))
    return outcomes


def rest_outcomes(lines: list[dict], url: str, timeout: float = 60.0) -> list[Outcome]:
    import httpx

    outcomes = []
    endpoint = url.rstrip("/") + "/webhooks/rest/webhook"
    with httpx.Client(timeout=timeout) as client:
        for item in lines:
            sender = f"eval-{uuid.uuid4().hex[:12]}"
            response = client.post(endpoint, json={"sender": sender, "message": item["text"]})
            response.raise_for_status()
            meta = None
            for message in response.json():
                payload = DecisionPayload.of(message)
                if payload is not None:
                    meta = payload.to_dict()
            outcomes.append(outcome_from_metadata(meta))
    return outcomes


def _share(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def score(lines: list[dict], outcomes: list[Outcome]) -> dict:
    """All the numbers, overall; ``by_kind`` holds the same per kind."""
    counts: dict[str, float] = defaultdict(float)
    for item, out in zip(lines, outcomes):
        expect = item["expect"]
        if expect is None:
            counts["null"] += 1
            if out.action == ANSWERED:
                counts["null_answered"] += 1
                counts["wrong_any"] += 1
            elif out.action == CLARIFY:
                counts["null_clarified"] += 1
            else:
                counts["null_abstained"] += 1
            continue
        counts["answerable"] += 1
        if out.action == ANSWERED:
            if expect in out.guide_ids:
                counts["correct"] += 1
            else:
                counts["wrong"] += 1
                counts["wrong_any"] += 1
        elif out.action == CLARIFY:
            counts["clarify_hit" if expect in out.guide_ids else "clarify_miss"] += 1
        else:
            counts["abstained"] += 1
        if expect in out.ranking:
            rank = out.ranking.index(expect) + 1
            counts["recall_at_1"] += rank == 1
            counts["recall_at_3"] += rank <= 3
            counts["mrr"] += 1.0 / rank
    answerable, null = int(counts["answerable"]), int(counts["null"])
    result = {"lines": len(lines), "answerable": answerable}
    for key in ("correct", "wrong", "clarify_hit", "clarify_miss", "abstained", "recall_at_1", "recall_at_3", "mrr"):
        result[key] = _share(counts[key], answerable)
    result["null"] = null
    result["null_abstained"] = _share(counts["null_abstained"], null)
    result["null_clarified"] = _share(counts["null_clarified"], null)
    result["null_answered"] = _share(counts["null_answered"], null)
    result["wrong_of_all"] = _share(counts["wrong_any"], len(lines))
    return result


def summary(lines: list[dict], outcomes: list[Outcome]) -> dict:
    """The issue's headline numbers: right / wrong / abstained of answerable, null abstained,
    uncovered procedures abstained or routed, long stories right, wrong answers of all lines."""
    overall = score(lines, outcomes)
    uncovered = [o for i, o in zip(lines, outcomes) if i["kind"] == "negative_uncovered"]
    long = [(i, o) for i, o in zip(lines, outcomes) if i["kind"] == "colloquial_long" and i["expect"]]
    return {
        "lines": overall["lines"],
        "right": overall["correct"],
        "wrong": overall["wrong"],
        "clarify_hit": overall["clarify_hit"],
        "abstained": overall["abstained"],
        "null_abstained": overall["null_abstained"],
        "uncovered_stopped": _share(sum(o.action not in (ANSWERED, CLARIFY) for o in uncovered), len(uncovered)),
        "uncovered_lines": len(uncovered),
        "long_right": _share(sum(o.action == ANSWERED and i["expect"] in o.guide_ids for i, o in long), len(long)),
        "long_lines": len(long),
        "wrong_of_all": overall["wrong_of_all"],
    }


def report(lines: list[dict], outcomes: list[Outcome]) -> dict:
    result = score(lines, outcomes)
    result["summary"] = summary(lines, outcomes)
    kinds = sorted({item["kind"] for item in lines})
    result["by_kind"] = {}
    for kind in kinds:
        pairs = [(i, o) for i, o in zip(lines, outcomes) if i["kind"] == kind]
        result["by_kind"][kind] = score([p[0] for p in pairs], [p[1] for p in pairs])
    return result


def print_table(result: dict, out=None) -> None:
    out = out or sys.stdout
    columns = [
        "lines",
        "correct",
        "wrong",
        "clarify_hit",
        "clarify_miss",
        "abstained",
        "recall_at_1",
        "recall_at_3",
        "mrr",
        "null_abstained",
        "wrong_of_all",
    ]
    rows = [("ALL", result)] + sorted(result["by_kind"].items())
    print(f"{'kind':<24}" + "".join(f"{c:>15}" for c in columns), file=out)
    for name, row in rows:
        cells = []
        for column in columns:
            value = row.get(column, 0)
            empty = (column in ("null_abstained",) and not row["null"]) or (
                column not in ("lines", "null_abstained", "wrong_of_all") and not row["answerable"]
            )
            cells.append(f"{'-':>15}" if empty else (f"{value:>15}" if column == "lines" else f"{value:>15.3f}"))
        print(f"{name:<24}" + "".join(cells), file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate answer/clarify/abstain decisions")
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--url", help="evaluate through a running bot's REST webhook, e.g. http://127.0.0.1:5005")
    parser.add_argument("--errors", action="store_true", help="also list the lines the bot got wrong")
    parser.add_argument("--split", choices=["tune", "heldout"], help="only this deterministic part of the file")
    parser.add_argument(
        "--no-keyterms",
        action="store_true",
        help="local mode without the spaCy answerability check (to measure what it adds)",
    )
    args = parser.parse_args(argv)
    lines = read_lines(args.file)
    if args.split:
        lines = [item for item in lines if split_of(item["text"]) == args.split]
    outcomes = rest_outcomes(lines, args.url) if args.url else local_outcomes(lines, not args.no_keyterms)
    result = report(lines, outcomes)
    result["mode"] = f"rest {args.url}" if args.url else "local"
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"mode: {result['mode']}" + (f", split {args.split}" if args.split else ""))
        print_table(result)
        print("summary: " + ", ".join(f"{k} {v}" for k, v in result["summary"].items()))
    if args.errors:
        for item, out in zip(lines, outcomes):
            if item["expect"]:
                good = out.action == ANSWERED and item["expect"] in out.guide_ids
            else:
                good = out.action not in (ANSWERED, CLARIFY)
            if not good:
                print(
                    f"[{item['kind']}] expect={item['expect']} got={out.action}:{out.guide_ids} "
                    f"top={out.ranking[:3]} :: {item['text']}",
                    file=sys.stderr,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
