"""What a load run measured, and whether every conversation arrived whole (standard library only).

The Locust users (loadtest/locustfile.py) write one JSON line per HTTP attempt to send a message::

    {"channel": "rest", "sender": "load-…", "seq": 2, "text": "…", "attempt": 1, "start": 1733380000.12,
     "ms": 183.4, "status": 200, "ok": true, "final": true}

``final`` marks a message's last attempt (it succeeded, or the user gave up). From these lines
:func:`summarize` computes the latency a citizen saw per message (first attempt to the final
answer, retries included), errors and throughput; :func:`check_conversation` compares what a
citizen sent with the user messages in Rasa's tracker: lost, duplicated or reordered messages.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


def load_scenarios(path: str | Path) -> dict[str, list[str]]:
    """The scenarios file: ``{"scenarios": {name: [text, ...]}}``; ValueError saying what is wrong."""
    import yaml

    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    scenarios = data.get("scenarios") if isinstance(data, dict) else None
    if not scenarios or not isinstance(scenarios, dict):
        raise ValueError(f"{path}: no scenarios")
    for name, turns in scenarios.items():
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
            raise ValueError(f"{path}: scenario {name!r} must be a list of non-empty texts")
        if len(set(turns)) != len(turns):
            raise ValueError(f"{path}: scenario {name!r} repeats a text (the tracker check finds messages by text)")
    return scenarios


def load_records(path: Path) -> list[dict]:
    """The attempts logged by a run; a truncated last line (a killed run) is skipped."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile ``q`` (0-100) of ``values``; NaN when there are none.

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Message:
    """One message a citizen sent, over all its attempts."""

    channel: str
    sender: str
    seq: int
    text: str
    attempts: int
    ok: bool
    start: float  # first attempt's start (epoch seconds)
    end: float  # end of the final attempt
    statuses: list = field(default_factory=list)
    replies: int | None = None  # bot messages in the answer (REST: the list; web chat: polled)

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000


def messages(records: Iterable[dict]) -> list[Message]:
    """Attempts grouped into messages, by (channel, sender, seq); a message without a final attempt
    (the run ended while it was in flight) counts as not acknowledged."""
    grouped: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        grouped[(record["channel"], record["sender"], record["seq"])].append(record)
    out = []
    for (channel, sender, seq), attempts in grouped.items():
        attempts.sort(key=lambda r: r["attempt"])
        last = attempts[-1]
        ok = bool(last.get("ok")) and bool(last.get("final"))
        out.append(
            Message(
                channel,
                sender,
                seq,
                last["text"],
                len(attempts),
                ok,
                attempts[0]["start"],
                last["start"] + last["ms"] / 1000,
                [a["status"] for a in attempts],
                last.get("replies"),
            )
        )
    out.sort(key=lambda m: m.start)
    return out


def summarize(records: list[dict]) -> dict:
    """Latency percentiles (ms, per message as the citizen saw it), errors and throughput."""
    msgs = messages(records)
    failed_attempts = [r for r in records if not r.get("ok")]
    summary: dict = {
        "attempts": len(records),
        "failed_attempts": len(failed_attempts),
        "errors_by_status": dict(Counter(str(r["status"]) for r in failed_attempts)),
        "messages": len(msgs),
        "acknowledged": sum(m.ok for m in msgs),
        "not_acknowledged": sum(not m.ok for m in msgs),
        "retried_ok": sum(m.ok and m.attempts > 1 for m in msgs),
        "empty_replies": sum(m.ok and m.replies == 0 for m in msgs),
        "conversations": len({(m.channel, m.sender) for m in msgs}),
        "channels": {},
    }
    if msgs:
        duration = max(m.end for m in msgs) - min(m.start for m in msgs)
    else:
        duration = 0.0
    summary["duration_s"] = round(duration, 1)
    summary["throughput_msg_s"] = round(summary["acknowledged"] / duration, 2) if duration > 0 else 0.0
    for channel in ["all", *sorted({m.channel for m in msgs})]:
        chosen = [m.ms for m in msgs if m.ok and channel in ("all", m.channel)]
        summary["channels"][channel] = {
            "n": len(chosen),
            **{f"p{q}": round(percentile(chosen, q), 1) for q in (50, 95, 99)},
            "max": round(max(chosen), 1) if chosen else math.nan,
        }
    return summary


def format_summary(summary: dict) -> str:
    rows = [f"{'channel':<10} {'n':>6} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'max ms':>9}"]
    for channel, s in summary["channels"].items():
        rows.append(f"{channel:<10} {s['n']:>6} {s['p50']:>9.1f} {s['p95']:>9.1f} {s['p99']:>9.1f} {s['max']:>9.1f}")
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(summary["errors_by_status"].items())) or "none"
    return "\n".join(
        [
            f"messages {summary['messages']} in {summary['conversations']} conversations over "
            f"{summary['duration_s']} s: throughput {summary['throughput_msg_s']} messages/s",
            f"acknowledged {summary['acknowledged']}, not acknowledged {summary['not_acknowledged']}, "
            f"answered after a retry {summary['retried_ok']}, answered with no bot message {summary['empty_replies']}",
            f"attempts {summary['attempts']}, failed attempts {summary['failed_attempts']} ({errors})",
            "latency per message, first attempt to answer (retries included):",
            *rows,
        ]
    )


# --------------------------------------------------------------------------- tracker check


def user_texts(tracker: dict) -> list[str]:
    """The texts of the user messages in a tracker from Rasa's HTTP API, in order."""
    return [e.get("text") or "" for e in tracker.get("events") or [] if e.get("event") == "user"]


@dataclass
class ConversationCheck:
    sender: str
    lost: list[str] = field(default_factory=list)  # acknowledged, not in the tracker
    duplicated: list[str] = field(default_factory=list)  # in the tracker more than once
    reordered: bool = False  # in the tracker, but not in the order sent
    unexpected: list[str] = field(default_factory=list)  # in the tracker, never sent

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.reordered or self.unexpected)


def check_conversation(sender: str, sent: list[Message], tracked: list[str]) -> ConversationCheck:
    """Compare what one citizen sent (in order) with the user texts of its tracker.

    A message never acknowledged (the user gave up, or the run ended) may be in the tracker or
    not; an acknowledged one must be there exactly once; all must keep the order they were sent in.
    Texts are unique within a conversation (scenarios.yml), so each is found by its text.
    """
    check = ConversationCheck(sender)
    sent = sorted(sent, key=lambda m: m.seq)
    counts = Counter(tracked)
    known = {m.text for m in sent}
    for message in sent:
        n = counts.get(message.text, 0)
        if n == 0 and message.ok:
            check.lost.append(message.text)
        elif n > 1:
            check.duplicated.append(message.text)
    check.unexpected = [t for t in tracked if t not in known]
    first_position = {}
    for position, text in enumerate(tracked):
        first_position.setdefault(text, position)
    positions = [first_position[m.text] for m in sent if m.text in first_position]
    check.reordered = positions != sorted(positions)
    return check


def check_all(msgs: list[Message], trackers: dict[str, list[str]]) -> dict:
    """Every conversation checked; ``trackers`` maps a sender id to its tracked user texts."""
    by_sender: dict[str, list[Message]] = defaultdict(list)
    for message in msgs:
        by_sender[message.sender].append(message)
    checks = [check_conversation(s, sent, trackers.get(s, [])) for s, sent in by_sender.items()]
    bad = [c for c in checks if not c.ok]
    return {
        "conversations": len(checks),
        "messages_checked": len(msgs),
        "lost": sum(len(c.lost) for c in checks),
        "duplicated": sum(len(c.duplicated) for c in checks),
        "reordered": sum(c.reordered for c in checks),
        "unexpected": sum(len(c.unexpected) for c in checks),
        "bad": [c.__dict__ for c in bad[:20]],
    }


def format_check(result: dict) -> str:
    verdict = (
        "OK"
        if not (result["lost"] or result["duplicated"] or result["reordered"] or result["unexpected"])
        else "PROBLEMS"
    )
    lines = [
        f"trackers read back: {result['conversations']} conversations, {result['messages_checked']} messages: "
        f"lost {result['lost']}, duplicated {result['duplicated']}, reordered conversations "
        f"{result['reordered']}, unexpected {result['unexpected']} -> {verdict}"
    ]
    for bad in result["bad"]:
        lines.append(
            f"  {bad['sender']}: lost {bad['lost']} duplicated {bad['duplicated']} "
            f"reordered {bad['reordered']} unexpected {bad['unexpected']}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- fault windows


def failures_outside(records: list[dict], windows: list[tuple[float, float]], grace: float = 5.0) -> list[dict]:
    """Failed attempts that started outside every fault window (kill time to back up + ``grace`` s).

    A request in flight when a process is killed started before the kill: a window therefore
    opens ``grace`` seconds before the kill too.
    """

    def inside(t: float) -> bool:
        return any(start - grace <= t <= end + grace for start, end in windows)

    return [r for r in records if not r.get("ok") and not inside(r["start"])]


def memory_summary(samples: list[tuple[float, float]], warmup: float) -> dict | None:
    """RSS samples ``(seconds into the run, MB)`` of one process: the first sample after ``warmup``
    seconds, the last one, the peak, and the change from warm-up to the end in percent."""
    if not samples:
        return None
    warm = next((mb for t, mb in samples if t >= warmup), samples[-1][1])
    end = samples[-1][1]
    return {
        "warmup_mb": round(warm, 1),
        "end_mb": round(end, 1),
        "peak_mb": round(max(mb for _, mb in samples), 1),
        "change_pct": round((end - warm) / warm * 100, 1) if warm else 0.0,
        "samples": len(samples),
    }


def rss_mb(pid: int) -> float | None:
    """VmRSS of ``pid`` in MB (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None
