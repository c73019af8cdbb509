"""evaluation/evaluate.py: exact numbers on hand-made outcomes, and the --json CLI in-process."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from evaluation import evaluate
from retrieval import service as service_mod
from retrieval.encoders import HashingEncoder
from evaluation.evaluate import Outcome, outcome_from_metadata, read_lines, report, score, split_of, summary
from tests.retrieval.tiny_kb import build

LINES = [
    {"text": "1", "expect": "a", "kind": "k1"},
    {"text": "2", "expect": "a", "kind": "k1"},
    {"text": "3", "expect": "b", "kind": "k2"},
    {"text": "4", "expect": "c", "kind": "k2"},
    {"text": "5", "expect": "d", "kind": "k2"},
    {"text": "6", "expect": None, "kind": "null"},
    {"text": "7", "expect": None, "kind": "null"},
    {"text": "8", "expect": None, "kind": "null"},
    {"text": "9", "expect": "e", "kind": "k1"},
]
OUTCOMES = [
    Outcome("answer", ["a"], ["a", "b", "c"]),  # correct, rank 1
    Outcome("answer", ["b"], ["b", "a", "c"]),  # wrong, rank 2
    Outcome("clarify", ["a", "b"], ["a", "b"]),  # clarify hit, rank 2
    Outcome("clarify", ["a", "b"], ["a", "b", "d", "c"]),  # clarify miss, rank 4
    Outcome("abstain", [], []),  # abstained, not ranked
    Outcome("abstain", [], ["a"]),  # null abstained
    Outcome("answer", ["a"], ["a"]),  # null answered: wrong
    Outcome("clarify", ["a", "b"], ["a", "b"]),  # null clarified
    Outcome("handoff", [], ["e"]),  # counts as abstained, rank 1
]

REQUIRED_KEYS = {
    "lines",
    "answerable",
    "correct",
    "wrong",
    "clarify_hit",
    "clarify_miss",
    "abstained",
    "recall_at_1",
    "recall_at_3",
    "mrr",
    "null",
    "null_abstained",
    "null_clarified",
    "null_answered",
    "wrong_of_all",
}


def test_score_gives_exact_fractions():
    assert score(LINES, OUTCOMES) == {
        "lines": 9,
        "answerable": 6,
        "correct": round(1 / 6, 4),
        "wrong": round(1 / 6, 4),
        "clarify_hit": round(1 / 6, 4),
        "clarify_miss": round(1 / 6, 4),
        "abstained": round(2 / 6, 4),
        "recall_at_1": round(2 / 6, 4),
        "recall_at_3": round(4 / 6, 4),
        "mrr": round((1 + 1 / 2 + 1 / 2 + 1 / 4 + 0 + 1) / 6, 4),
        "null": 3,
        "null_abstained": round(1 / 3, 4),
        "null_clarified": round(1 / 3, 4),
        "null_answered": round(1 / 3, 4),
        "wrong_of_all": round(2 / 9, 4),
    }


def test_report_breaks_down_by_kind():
    result = report(LINES, OUTCOMES)
    assert set(result["by_kind"]) == {"k1", "k2", "null"}
    k1, k2, null = (result["by_kind"][k] for k in ("k1", "k2", "null"))
    assert (k1["lines"], k1["answerable"], k1["null"]) == (3, 3, 0)
    assert (k1["correct"], k1["wrong"], k1["abstained"]) == (0.3333, 0.3333, 0.3333)
    assert (k1["recall_at_1"], k1["recall_at_3"], k1["mrr"]) == (0.6667, 1.0, 0.8333)
    assert k1["wrong_of_all"] == 0.3333
    assert (k2["clarify_hit"], k2["clarify_miss"], k2["abstained"], k2["correct"]) == (0.3333, 0.3333, 0.3333, 0.0)
    assert (k2["recall_at_1"], k2["recall_at_3"], k2["mrr"]) == (0.0, 0.3333, 0.25)
    assert k2["wrong_of_all"] == 0.0
    assert (null["answerable"], null["null"], null["correct"], null["mrr"]) == (0, 3, 0.0, 0.0)
    assert (null["null_abstained"], null["null_clarified"], null["null_answered"]) == (0.3333, 0.3333, 0.3333)
    assert null["wrong_of_all"] == 0.3333
    # The overall numbers are the same as score().
    assert {k: v for k, v in result.items() if k not in ("by_kind", "summary")} == score(LINES, OUTCOMES)


def test_summary_counts_uncovered_stopped_and_long_stories_right():
    lines = [
        {"text": "a", "expect": None, "kind": "negative_uncovered"},
        {"text": "b", "expect": None, "kind": "negative_uncovered"},
        {"text": "c", "expect": "g1", "kind": "colloquial_long"},
        {"text": "d", "expect": "g1", "kind": "colloquial_long"},
        {"text": "e", "expect": "g1", "kind": "clean"},
    ]
    outcomes = [
        Outcome("abstain", [], ["g1"]),
        Outcome("answer", ["g2"], ["g2"]),
        Outcome("answer", ["g1"], ["g1"]),
        Outcome("clarify", ["g1", "g2"], ["g1"]),
        Outcome("answer", ["g1"], ["g1"]),
    ]
    s = summary(lines, outcomes)
    assert (s["uncovered_stopped"], s["uncovered_lines"]) == (0.5, 2)
    assert (s["long_right"], s["long_lines"]) == (0.5, 2)
    assert s["right"] == round(2 / 3, 4) and s["wrong_of_all"] == 0.2


def test_split_is_deterministic_and_holds_back_about_a_third():
    texts = [f"câu hỏi số {i}" for i in range(600)]
    parts = [split_of(t) for t in texts]
    assert parts == [split_of(t) for t in texts]
    assert set(parts) == {"tune", "heldout"}
    assert 150 < parts.count("heldout") < 250


def test_score_of_nothing_is_zero_not_a_division_error():
    result = score([], [])
    assert result["lines"] == 0 and result["correct"] == 0.0 and result["wrong_of_all"] == 0.0


def test_all_correct_is_one():
    lines = [{"text": "x", "expect": "a", "kind": "k"}, {"text": "y", "expect": None, "kind": "k"}]
    outcomes = [Outcome("answer", ["a"], ["a", "b"]), Outcome("abstain", [], [])]
    result = score(lines, outcomes)
    assert (
        result["correct"],
        result["recall_at_1"],
        result["mrr"],
        result["null_abstained"],
        result["wrong_of_all"],
    ) == (1.0, 1.0, 1.0, 1.0, 0.0)


def test_outcome_from_metadata():
    meta = {"decision": "clarify", "guide_ids": ["a", "b"], "ranking": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}
    assert outcome_from_metadata(meta) == Outcome("clarify", ["a", "b"], ["a", "b", "c"])
    assert outcome_from_metadata(None) == Outcome("other", [], [])
    assert outcome_from_metadata({"decision": "handoff", "guide_ids": []}) == Outcome("handoff", [], [])


def test_read_lines_validates_with_line_numbers(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"text": "a", "expect": "x"}\n\n{"text": "b", "expect": null, "kind": "null"}\n', encoding="utf-8")
    assert read_lines(good) == [
        {"text": "a", "expect": "x", "kind": "unknown"},
        {"text": "b", "expect": None, "kind": "null"},
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "expect": "x"}\n{oops\n', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"bad.jsonl:2: not JSON"):
        read_lines(bad)
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"text": "a"}\n', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"missing.jsonl:1: needs 'text' and 'expect'"):
        read_lines(missing)


# ------------------------------------------------------------------ the CLI, in-process


@pytest.fixture
def served_tiny_index(kb, index_dir, monkeypatch):
    build(kb, index_dir, HashingEncoder())
    monkeypatch.setattr(service_mod._service, "value", None)
    monkeypatch.setenv("DVC_INDEX_DIR", str(index_dir))
    monkeypatch.setenv("DVC_EMBEDDING_MODEL", "hashing")
    monkeypatch.setenv("DVC_ANSWER_THRESHOLD", "0.55")
    monkeypatch.setenv("DVC_MARGIN_THRESHOLD", "0.04")
    return index_dir


EVAL_FILE = [
    {"text": "Quên mật khẩu VNeID thì lấy lại thế nào?", "expect": "vneid_forgot_password", "kind": "main"},
    {"text": "quen mat khau vneid thi lam sao", "expect": "vneid_forgot_password", "kind": "unaccented"},
    {"text": "Nộp phạt vi phạm giao thông online thế nào?", "expect": "dvc_traffic_fines", "kind": "main"},
    {"text": "asdkjh qwe zzxq", "expect": None, "kind": "null"},
]


def test_cli_json_prints_one_object_with_the_required_keys(served_tiny_index, tmp_path, capsys):
    path = tmp_path / "dev.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in EVAL_FILE) + "\n", encoding="utf-8")
    assert evaluate.main(["--file", str(path), "--json"]) == 0
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1
    result = json.loads(out)
    assert REQUIRED_KEYS | {"by_kind", "mode"} <= set(result)
    assert result["mode"] == "local"
    assert (result["lines"], result["answerable"], result["null"]) == (4, 3, 1)
    assert result["correct"] == 1.0 and result["recall_at_1"] == 1.0 and result["mrr"] == 1.0
    assert result["null_abstained"] == 1.0 and result["wrong_of_all"] == 0.0
    assert set(result["by_kind"]) == {"main", "unaccented", "null"}
    assert REQUIRED_KEYS <= set(result["by_kind"]["main"])


MISLABELLED = EVAL_FILE + [
    {"text": "Nộp phạt vi phạm giao thông online thế nào?", "expect": "vneid_activate", "kind": "mislabelled"}
]


def test_cli_table_mode_and_errors(served_tiny_index, tmp_path, capsys):
    path = tmp_path / "dev.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in MISLABELLED), encoding="utf-8")
    assert evaluate.main(["--file", str(path), "--errors"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("mode: local")
    assert "expect=vneid_activate got=answer:['dvc_traffic_fines']" in captured.err
    assert "Quên mật khẩu" not in captured.err  # correct lines are not listed


def test_print_table_rows():
    out = io.StringIO()
    evaluate.print_table(report(LINES, OUTCOMES), out=out)
    lines = out.getvalue().splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert list(rows) == ["ALL", "k1", "k2", "null"]
    assert rows["ALL"][:4] == ["9", "0.167", "0.167", "0.167"]
    assert rows["null"][:2] == ["3", "-"]  # no answerable line: no share to show
    assert rows["k1"][-2:] == ["-", "0.333"]  # no null line in k1


def test_print_table_header_has_separate_columns():
    out = io.StringIO()
    evaluate.print_table(report(LINES, OUTCOMES), out=out)
    header = out.getvalue().splitlines()[0].split()
    assert header == [
        "kind",
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


def test_cli_table_follows_the_current_stdout(served_tiny_index, tmp_path):
    path = tmp_path / "dev.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in EVAL_FILE), encoding="utf-8")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        evaluate.main(["--file", str(path)])
    assert "ALL" in buffer.getvalue()


def test_rest_mode_reads_the_decision_from_custom_metadata(monkeypatch):
    sent = []

    class FakeResponse:
        def __init__(self, body):
            self._body = body

        def raise_for_status(self):
            return None

        def json(self):
            return self._body

    class FakeClient:
        def __init__(self, timeout):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def post(self, url, json):
            sent.append((url, json))
            if json["message"] == "q1":
                return FakeResponse(
                    [
                        {"text": "trả lời"},
                        {
                            "custom": {
                                "dvc": {"decision": "answer", "guide_ids": ["a"], "ranking": [{"id": "a"}, {"id": "b"}]}
                            }
                        },
                    ]
                )
            return FakeResponse([{"text": "Xin chào!"}])

    import httpx

    monkeypatch.setattr(httpx, "Client", FakeClient)
    outcomes = evaluate.rest_outcomes([{"text": "q1"}, {"text": "xin chào"}], "http://127.0.0.1:5005/")
    assert outcomes == [Outcome("answer", ["a"], ["a", "b"]), Outcome("other", [], [])]
    assert [u for u, _ in sent] == ["http://127.0.0.1:5005/webhooks/rest/webhook"] * 2
    senders = [body["sender"] for _, body in sent]
    assert len(set(senders)) == 2  # a fresh conversation per line
