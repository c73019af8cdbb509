"""The load test's report and tracker check (loadtest/report.py): what makes a run pass or fail."""

from __future__ import annotations

import json
import math

import pytest

from loadtest import report

SCENARIOS = report.__file__.replace("report.py", "scenarios.yml")


def attempt(
    sender="s1", seq=1, text="a", attempt=1, start=100.0, ms=100.0, status=200, ok=True, final=None, channel="rest"
):
    return {
        "channel": channel,
        "sender": sender,
        "seq": seq,
        "text": text,
        "attempt": attempt,
        "start": start,
        "ms": ms,
        "status": status,
        "ok": ok,
        "final": ok if final is None else final,
    }


def test_percentile_interpolates_and_is_nan_without_values():
    assert report.percentile([10, 20, 30, 40, 50], 50) == 30
    assert report.percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert math.isnan(report.percentile([], 95))


def test_a_retried_message_counts_once_with_the_time_the_citizen_waited():
    records = [
        attempt(seq=1, start=100.0, ms=50, status=502, ok=False),
        attempt(seq=1, attempt=2, start=101.0, ms=200),
        attempt(seq=2, text="b", start=102.0, ms=100),
    ]
    summary = report.summarize(records)
    assert summary["messages"] == 2 and summary["acknowledged"] == 2 and summary["retried_ok"] == 1
    assert summary["failed_attempts"] == 1 and summary["errors_by_status"] == {"502": 1}
    # first message: 100.0 -> 101.2 s = 1,200 ms; second: 100 ms
    assert summary["channels"]["all"]["max"] == pytest.approx(1200.0)
    assert summary["throughput_msg_s"] == pytest.approx(2 / 2.1, abs=0.01)
    assert "throughput" in report.format_summary(summary)
    assert summary["empty_replies"] == 0


def test_an_answer_without_a_bot_message_is_counted():
    record = attempt()
    record["replies"] = 0
    assert report.summarize([record])["empty_replies"] == 1


def test_a_message_given_up_is_not_acknowledged():
    records = [attempt(ok=False, status="ConnectionError", final=True)]
    summary = report.summarize(records)
    assert summary["acknowledged"] == 0 and summary["not_acknowledged"] == 1


def test_load_records_skips_a_truncated_last_line(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps(attempt()) + "\n" + '{"channel": "re', encoding="utf-8")
    assert len(report.load_records(path)) == 1


def sent(*texts, ok=True):
    return [report.Message("rest", "s1", i + 1, t, 1, ok, 0.0, 0.1) for i, t in enumerate(texts)]


def test_conversation_intact():
    assert report.check_conversation("s1", sent("a", "b", "c"), ["a", "b", "c"]).ok


def test_lost_duplicated_reordered_and_unexpected_are_found():
    assert report.check_conversation("s1", sent("a", "b"), ["a"]).lost == ["b"]
    assert report.check_conversation("s1", sent("a", "b"), ["a", "b", "b"]).duplicated == ["b"]
    assert report.check_conversation("s1", sent("a", "b"), ["b", "a"]).reordered
    assert report.check_conversation("s1", sent("a"), ["a", "zzz"]).unexpected == ["zzz"]


def test_an_unacknowledged_message_may_be_missing_but_not_doubled():
    messages = sent("a") + [report.Message("rest", "s1", 2, "b", 6, False, 0.0, 1.0)]
    assert report.check_conversation("s1", messages, ["a"]).ok
    assert report.check_conversation("s1", messages, ["a", "b"]).ok
    assert not report.check_conversation("s1", messages, ["a", "b", "b"]).ok


def test_check_all_counts_over_conversations():
    messages = sent("a", "b") + [report.Message("rest", "s2", 1, "x", 1, True, 0.0, 0.1)]
    result = report.check_all(messages, {"s1": ["a", "b"], "s2": []})
    assert result["lost"] == 1 and result["conversations"] == 2 and result["bad"][0]["sender"] == "s2"
    assert "PROBLEMS" in report.format_check(result)


def test_user_texts_reads_only_user_events():
    tracker = {
        "events": [
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": "a"},
            {"event": "bot", "text": "reply"},
            {"event": "user", "text": "b"},
        ]
    }
    assert report.user_texts(tracker) == ["a", "b"]


def test_failures_outside_the_kill_window():
    records = [
        attempt(start=100.0, ok=False, status=502),
        attempt(start=500.0, ok=False, status=502),
        attempt(start=300.0),
    ]
    outside = report.failures_outside(records, [(95.0, 130.0)], grace=10)
    assert [r["start"] for r in outside] == [500.0]


def test_the_shipped_scenarios_load():
    scenarios = report.load_scenarios(SCENARIOS)
    assert len(scenarios) >= 5 and all(len(turns) >= 3 for turns in scenarios.values())


def test_a_scenario_repeating_a_text_is_refused(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text("scenarios:\n  x: [chào, chào]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="repeats a text"):
        report.load_scenarios(path)
    path.write_text("scenarios: {}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no scenarios"):
        report.load_scenarios(path)


def test_memory_summary_compares_the_end_with_the_first_sample_after_warm_up():
    samples = [(0.0, 900.0), (30.0, 1200.0), (60.0, 1250.0), (300.0, 1400.0), (600.0, 1300.0)]
    summary = report.memory_summary(samples, warmup=60)
    assert summary == {"warmup_mb": 1250.0, "end_mb": 1300.0, "peak_mb": 1400.0, "change_pct": 4.0, "samples": 5}
    assert report.memory_summary([], 60) is None
    assert report.memory_summary([(1.0, 500.0)], warmup=60)["change_pct"] == 0.0  # run shorter than warm-up


def test_rss_of_this_process_and_of_a_missing_one():
    import os

    assert report.rss_mb(os.getpid()) > 1
    assert report.rss_mb(2**22 + 7) is None
