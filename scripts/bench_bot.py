"""Benchmark the whole bot through its REST webhook: start-up, memory, latency, bad input.

    .venv-actions/bin/python scripts/bench_bot.py [--n 100] [--out docs/bench-bot.md]

Why: ``python -m evaluation.benchmark`` measures the search inside one process, but a citizen waits
for Rasa's NLU and policies, the HTTP hop to the action server and the search together, and an
operator sizes the machine by what both servers hold in memory. This starts both servers exactly as
``make run`` does (scripts/servers.py), on ports 5205 (Rasa) and 5255 (actions) so a developer's
server on 5005/5055 keeps running, and measures:

* action server start until /health answers, and its warm-up (embedding model + index load);
* Rasa server start until /status names a loaded model (polled once a second, as servers.py does);
* resident memory of each server with its child processes (rasa-sdk serves from a child worker);
* REST round trip of N messages (greetings, procedure questions with and without diacritics,
  off-topic), sequentially, each from a fresh sender id so no conversation state carries over;
* the HTTP status for bad input (empty, 10,000 characters, binary junk, malformed JSON, ...), then
  whether a normal message still gets an answer: bad input must never take the server down.

Numbers are printed, never asserted. The servers are stopped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import os
import shutil
import shlex
import socket
import tempfile
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: only scripts/ is on sys.path, retrieval/ is not

from servers import MODEL, Servers

from core.decision import DecisionPayload

from evaluation.bench_report import (
    common_facts,
    load_average,
    load_fact,
    ms,
    percentiles,
    proc_status_kb,
    report_markdown,
    table,
    write_report,
)

RASA_PORT = 5205
ACTIONS_PORT = 5255
# Longer than any answer takes; a request that needs this long is a finding, not a hang.
REQUEST_TIMEOUT = 120.0
LONG_MESSAGE_CHARS = 10_000

# Written for this benchmark (not taken from any evaluation set), so the numbers stay comparable
# when the evaluation sets change. Cycled in this order: one of each category in turn.
MESSAGES: dict[str, list[str]] = {
    "greeting": [
        "xin chào",
        "Chào bạn, cho mình hỏi chút",
        "chào em",
        "alo, có ai trực không ạ",
        "Chào buổi sáng",
        "hello",
    ],
    "procedure": [
        "Bằng lái xe của tôi sắp hết hạn, muốn đổi trên mạng thì làm thế nào?",
        "Tôi bị mất căn cước, xin cấp lại ở đâu và cần mang gì?",
        "Đăng ký khai sinh cho con qua cổng dịch vụ công cần chuẩn bị giấy tờ gì?",
        "Quên mật khẩu đăng nhập VNeID thì lấy lại như thế nào?",
        "Nộp tiền phạt vi phạm giao thông trực tuyến bằng cách nào?",
        "Xin phiếu lý lịch tư pháp online thì bao lâu có kết quả?",
        "Muốn đăng ký tạm trú qua mạng thì phải làm những bước nào?",
        "Làm sao để xem hồ sơ mình đã nộp đang được xử lý tới đâu?",
    ],
    "procedure_no_diacritics": [
        "bang lai sap het han doi online nhu the nao",
        "mat can cuoc thi xin cap lai o dau",
        "dang ky khai sinh cho con tren dich vu cong can gi",
        "quen mat khau vneid lay lai sao",
        "nop phat nguoi giao thong qua mang duoc khong",
        "xin ly lich tu phap truc tuyen mat bao lau",
        "dang ky thuong tru online can giay to gi",
        "thanh toan le phi ho so bang the ngan hang duoc khong",
    ],
    "off_topic": [
        "Hôm nay trời có mưa không?",
        "chỉ tôi cách nấu phở bò với",
        "giá vàng hôm nay bao nhiêu vậy",
        "tối nay đội tuyển đá mấy giờ",
        "kể một câu chuyện cười đi",
        "nên mua điện thoại hãng nào bây giờ",
    ],
}
AFTER_BAD_INPUT = "Cho tôi hỏi cách đổi giấy phép lái xe trên mạng"


@dataclass
class Reply:
    category: str
    status: int | str  # HTTP status, or the error when no response came back
    milliseconds: float
    outcome: str  # the dvc decision, "text" (a reply without metadata), "empty" or "error"


class TimedServers(Servers):
    """Servers that also time the action server's warm-up (the first search loads the model)."""

    warm_up_seconds: float = 0.0

    def warm_up(self) -> None:
        start = time.perf_counter()
        super().warm_up()
        self.warm_up_seconds = time.perf_counter() - start


def messages(n: int) -> list[tuple[str, str]]:
    """``n`` (category, text) pairs: categories in turn, each category's messages in turn."""
    categories = list(MESSAGES)
    out = []
    for i in range(n):
        category = categories[i % len(categories)]
        pool = MESSAGES[category]
        out.append((category, pool[(i // len(categories)) % len(pool)]))
    return out


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants, from the parent ids in /proc/<pid>/stat."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))  # fields[1] is the parent pid
    tree, i = [pid], 0
    while i < len(tree):
        tree.extend(parents.get(tree[i], []))
        i += 1
    return tree


def tree_memory_mb(pid: int) -> tuple[float, float, int]:
    """(current RSS, sum of each process's peak RSS, process count) for ``pid`` and its children.

    Summed RSS counts pages shared between parent and child twice, so it is an upper bound.
    """
    tree = process_tree(pid)
    rss = sum(proc_status_kb(p, "VmRSS") for p in tree) / 1024
    peak = sum(proc_status_kb(p, "VmHWM") for p in tree) / 1024
    return rss, peak, len(tree)


def outcome_of(body: object) -> str:
    if not isinstance(body, list) or not body:
        return "empty"
    for message in body:
        payload = DecisionPayload.of(message)
        if payload is not None:
            return str(payload.get("decision", "other"))
    return "text"


def send(client: httpx.Client, url: str, category: str, **request) -> Reply:
    """One POST to the webhook; never raises, so one bad request cannot end the benchmark."""
    start = time.perf_counter()
    try:
        response = client.post(url, **request)
    except httpx.HTTPError as exc:
        return Reply(category, f"no response ({type(exc).__name__})", (time.perf_counter() - start) * 1000, "error")
    elapsed = (time.perf_counter() - start) * 1000
    try:
        outcome = outcome_of(response.json()) if response.status_code == 200 else "error"
    except ValueError:
        outcome = "not JSON"
    return Reply(category, response.status_code, elapsed, outcome)


def bad_inputs() -> list[tuple[str, dict]]:
    """(description, httpx request arguments) for inputs a channel or an attacker could send."""
    sender = f"bench-bad-{uuid.uuid4().hex[:8]}"
    long_text = ("Tôi muốn hỏi về thủ tục đăng ký tạm trú cho người thuê trọ. " * 200)[:LONG_MESSAGE_CHARS]
    # Every byte value, in a fixed scrambled order: invalid UTF-8 and control bytes included.
    junk = bytes((i * 37 + 11) % 256 for i in range(2048))
    as_json = {"Content-Type": "application/json"}
    return [
        ("empty message", {"json": {"sender": sender, "message": ""}}),
        ("whitespace only", {"json": {"sender": sender, "message": " \n\t "}}),
        (f"{LONG_MESSAGE_CHARS:,} characters", {"json": {"sender": sender, "message": long_text}}),
        ("binary junk body (2 kB)", {"content": junk, "headers": as_json}),
        ("malformed JSON", {"content": b'{"sender": "x", "message": "ch\xc3\xa0o', "headers": as_json}),
        ("message is a number", {"json": {"sender": sender, "message": 12345}}),
        ("no message field", {"json": {"sender": sender}}),
        ("control characters and emoji", {"json": {"sender": sender, "message": "\u0000\u202e😀\u200b đăng ký"}}),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the running bot through its REST webhook")
    parser.add_argument("--n", type=int, default=100, help="messages to time (default 100)")
    parser.add_argument("--out", type=Path, help="also write the report as Markdown here")
    args = parser.parse_args(argv)
    command = ".venv-actions/bin/python scripts/bench_bot.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    if not MODEL.exists():
        print(f"no trained model at {MODEL}: run `make train`", file=sys.stderr)
        return 1
    busy = [p for p in (RASA_PORT, ACTIONS_PORT) if port_in_use(p)]
    if busy:
        print(f"port(s) {busy} already in use: stop what listens there first", file=sys.stderr)
        return 1

    load_at_start = load_average()
    # the benchmark's conversations and recorded decisions go to a throw-away folder, not var/
    scratch = Path(tempfile.mkdtemp(prefix="bench-bot-"))
    os.environ.update(
        {
            "HANDOFF_DATABASE_URL": f"sqlite:///{scratch / 'handoff.sqlite3'}",
            "RASA_TRACKER_DB": str(scratch / "rasa-tracker.sqlite3"),
            "REST_OUTBOX_DB": str(scratch / "rest-outbox.sqlite3"),
        }
    )
    os.environ.setdefault("DVC_RATE_LIMITS", "off")  # a benchmark from loopback, not citizens' traffic
    servers = TimedServers(rasa_port=RASA_PORT, actions_port=ACTIONS_PORT)
    sections: list[tuple[str, str]] = []

    def show(name: str, text: str) -> None:
        sections.append((name, text))
        print(f"\n## {name}\n\n{text}", flush=True)

    try:
        print(f"starting the action server on {servers.actions_url} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        servers.start_actions()
        actions_total = time.perf_counter() - start
        print(f"starting the Rasa server on {servers.rasa_url} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        servers.start_rasa()
        rasa_seconds = time.perf_counter() - start
        actions_pid, rasa_pid = (p.pid for p in servers.processes)
        show(
            "Start-up (s)",
            table(
                ["step", "seconds"],
                [
                    ["action server: start until /health", f"{actions_total - servers.warm_up_seconds:.1f}"],
                    ["action server: warm-up (model + index)", f"{servers.warm_up_seconds:.1f}"],
                    ["Rasa server: start until /status has a model", f"{rasa_seconds:.1f}"],
                ],
            ),
        )
        memory_rows = []
        for name, pid in (("action server", actions_pid), ("Rasa server", rasa_pid)):
            rss, _peak, count = tree_memory_mb(pid)
            memory_rows.append([f"{name}, after start", count, f"{rss:.0f}", ""])

        url = f"{servers.rasa_url}/webhooks/rest/webhook"
        replies: list[Reply] = []
        with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
            print(f"sending {args.n} messages ...", file=sys.stderr, flush=True)
            for category, text in messages(args.n):
                replies.append(
                    send(client, url, category, json={"sender": f"bench-{uuid.uuid4().hex[:12]}", "message": text})
                )
            for name, pid in (("action server", actions_pid), ("Rasa server", rasa_pid)):
                rss, peak, count = tree_memory_mb(pid)
                memory_rows.append([f"{name}, after the messages", count, f"{rss:.0f}", f"{peak:.0f}"])

            rows = []
            for category in ["all", *MESSAGES]:
                chosen = [r for r in replies if category in ("all", r.category)]
                p = percentiles([r.milliseconds for r in chosen])
                outcomes: dict[str, int] = {}
                for reply in chosen:
                    outcomes[reply.outcome] = outcomes.get(reply.outcome, 0) + 1
                rows.append(
                    [
                        category,
                        p["n"],
                        ms(p["p50"]),
                        ms(p["p95"]),
                        ms(p["max"]),
                        ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())),
                    ]
                )
            statuses = sorted({str(r.status) for r in replies})
            show(
                "REST round trip (ms)",
                (
                    f"{args.n} messages, sequential, each from a fresh sender id; HTTP status seen: "
                    f"{', '.join(statuses)}. Outcome: the reply's dvc decision, `text` for a reply without "
                    f"one (greetings, small talk), `empty` for no reply at all.\n\n"
                    + table(["messages", "n", "p50", "p95", "max", "outcomes"], rows)
                ),
            )
            show(
                "Memory (MB)",
                "RSS summed over each server and its child processes (shared pages count "
                "twice); peak is the sum of each process's VmHWM.\n\n"
                + table(["server", "processes", "RSS", "peak"], memory_rows),
            )

            print("sending bad input ...", file=sys.stderr, flush=True)
            bad_rows = []
            for name, request in bad_inputs():
                reply = send(client, url, "bad", **request)
                alive = all(p.poll() is None for p in servers.processes)
                bad_rows.append([name, reply.status, reply.outcome, ms(reply.milliseconds), "yes" if alive else "NO"])
            after = send(
                client, url, "check", json={"sender": f"bench-{uuid.uuid4().hex[:12]}", "message": AFTER_BAD_INPUT}
            )
        answered = after.status == 200 and after.outcome not in ("empty", "error", "not JSON")
        show(
            "Bad input",
            table(["input", "HTTP status", "outcome", "ms", "servers alive"], bad_rows)
            + f"\n\nA normal message afterwards: HTTP {after.status}, outcome `{after.outcome}`, "
            f"{ms(after.milliseconds)} ms: {'answered' if answered else 'NOT ANSWERED'}.",
        )
    except RuntimeError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    finally:
        servers.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"\n{load_fact(load_at_start)[0]}: {load_fact(load_at_start)[1]}")
    if args.out:
        facts = common_facts(command) + [
            (
                "Rasa model",
                (
                    f"{MODEL.relative_to(ROOT)} ({MODEL.stat().st_size / 1e6:.0f} MB, "
                    f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(MODEL.stat().st_mtime))})"
                ),
            ),
            ("ports", f"Rasa {RASA_PORT}, actions {ACTIONS_PORT}, loopback"),
            load_fact(load_at_start),
        ]
        write_report(args.out, report_markdown("Bot benchmark (REST, both servers)", facts, sections))
    return 0 if answered else 1


if __name__ == "__main__":
    sys.exit(main())
