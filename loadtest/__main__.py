r"""Load and fault test against a running bot: ``make load`` (docs/scale.md).

    .venv-load/bin/python -m loadtest --url http://127.0.0.1:5005 --users 10 --duration 120 [--no-think]
    .venv-load/bin/python -m loadtest --url http://127.0.0.1:5710 --users 20 --duration 600 \\
        --fault --topology var/scaled/topology.json

Runs Locust headless (loadtest/locustfile.py: simulated citizens over REST and the web chat,
multi-turn scenarios from loadtest/scenarios.yml, think time 2-8 s or none), prints p50/p95/p99,
errors and throughput, then reads every conversation back from Rasa's HTTP API (the token from
``RASA_TOKEN`` or var/rasa-token) and checks that no message was lost, duplicated or reordered.

``--fault`` (the scaled topology, ``make run-scaled``): at ``--fault-at`` seconds it kills the
first Rasa replica and the first action server (SIGKILL, as a crash) from the topology file; the
supervisor in scripts/servers.py restarts them. Failed attempts must fall inside the kill window
and every message must be answered in the end (the users retry).

Exit status 0 only when every message was acknowledged, the trackers check out and (fault mode)
no request failed outside the kill window. The bot must run with ``DVC_RATE_LIMITS=off``: all
simulated citizens come from one address.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from loadtest import report

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


def rasa_token() -> str:
    token = (os.environ.get("RASA_TOKEN") or "").strip()
    if token:
        return token
    path = ROOT / "var" / "rasa-token"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    raise SystemExit("no Rasa API token: set RASA_TOKEN or start the bot once (var/rasa-token)")


def get_json(url: str, timeout: float = 30.0) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def fetch_trackers(api: str, token: str, senders: list[str]) -> dict[str, list[str]]:
    """The user texts of every sender's tracker (Rasa HTTP API, all events)."""

    def one(sender: str) -> tuple[str, list[str]]:
        query = urllib.parse.urlencode({"token": token, "include_events": "ALL"})
        url = f"{api.rstrip('/')}/conversations/{urllib.parse.quote(sender, safe='')}/tracker?{query}"
        for delay in (0, 1, 2, 4):
            time.sleep(delay)
            status, body = get_json(url)
            if status == 200 and isinstance(body, dict):
                return sender, report.user_texts(body)
        raise RuntimeError(f"could not read the tracker of {sender} from {api} (HTTP {status})")

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(one, senders))


class Fault(threading.Thread):
    """Kill the first Rasa replica and the first action server at ``at`` s; note when they are back."""

    def __init__(self, topology: Path, at: float, token: str):
        super().__init__(daemon=True)
        self.topology, self.at, self.token = topology, at, token
        self.windows: list[tuple[float, float]] = []
        self.notes: list[str] = []

    def _read(self) -> dict:
        return json.loads(self.topology.read_text(encoding="utf-8"))

    def run(self) -> None:
        time.sleep(self.at)
        topology = self._read()
        victims = [("rasa", topology["rasa"][0]), ("actions", topology["actions"][0])]
        killed = time.time()
        for kind, proc in victims:
            try:
                os.killpg(proc["pid"], signal.SIGKILL)
                self.notes.append(f"killed {kind} :{proc['port']} (pid {proc['pid']}) at +{self.at:.0f} s")
            except ProcessLookupError:
                self.notes.append(f"{kind} :{proc['port']} (pid {proc['pid']}) was not running")
        back = {}
        deadline = killed + 600
        while len(back) < len(victims) and time.time() < deadline:
            time.sleep(1.0)
            for kind, proc in victims:
                if kind in back:
                    continue
                if kind == "rasa":
                    status, body = get_json(f"http://127.0.0.1:{proc['port']}/status?token={self.token}", 5)
                    ready = status == 200 and isinstance(body, dict) and bool(body.get("model_file"))
                else:
                    status, _ = get_json(f"http://127.0.0.1:{proc['port']}/health", 5)
                    ready = status == 200
                if ready:
                    back[kind] = time.time()
                    self.notes.append(f"{kind} :{proc['port']} back after {back[kind] - killed:.0f} s")
        self.windows.append((killed, max(back.values(), default=time.time())))


class MemoryWatch(threading.Thread):
    """Samples the RSS of some processes every ``every`` seconds while the run lasts."""

    def __init__(self, pids: list[int], every: float = 5.0):
        super().__init__(daemon=True)
        self.pids, self.every = pids, every
        self.samples: dict[int, list[tuple[float, float]]] = {pid: [] for pid in pids}
        self.stopped = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        while not self.stopped.is_set():
            for pid in self.pids:
                mb = report.rss_mb(pid)
                if mb is not None:
                    self.samples[pid].append((time.monotonic() - start, mb))
            self.stopped.wait(self.every)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Load / fault test of a running bot with Locust")
    parser.add_argument(
        "--url",
        default=os.environ.get("LOAD_URL", "http://127.0.0.1:5005"),
        help="the bot's base URL (Rasa, or nginx in front of the replicas)",
    )
    parser.add_argument(
        "--api",
        help="a Rasa server's base URL for reading trackers (default: --url, or the first replica of --topology)",
    )
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--spawn-rate", type=float, default=5.0, help="citizens started per second")
    parser.add_argument("--duration", type=int, default=120, help="seconds")
    parser.add_argument("--think", default="2,8", help="min,max seconds between a citizen's messages")
    parser.add_argument("--no-think", action="store_true", help="closed loop: no think time")
    parser.add_argument("--webchat-share", type=float, default=0.3, help="share of citizens on the web chat")
    parser.add_argument("--topology", type=Path, default=ROOT / "var" / "scaled" / "topology.json")
    parser.add_argument("--fault", action="store_true", help="kill one Rasa replica and one action server mid-run")
    parser.add_argument("--fault-at", type=float, help="seconds into the run (default: a third of it)")
    parser.add_argument(
        "--grace", type=float, default=10.0, help="seconds around the kill window in which failed attempts are expected"
    )
    parser.add_argument("--out", type=Path, help="also write the summary and check as JSON here")
    parser.add_argument(
        "--rss-pid",
        type=int,
        action="append",
        default=[],
        help="sample this process's RSS every 5 s (e.g. the Rasa server); repeatable",
    )
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the RSS baseline is taken")
    args = parser.parse_args(argv)
    if not 0 <= args.webchat_share <= 1:
        parser.error("--webchat-share must be between 0 and 1")

    token = rasa_token()
    topology = json.loads(args.topology.read_text(encoding="utf-8")) if args.topology.exists() else None
    if args.fault and topology is None:
        parser.error(f"--fault needs the scaled topology ({args.topology}): start it with `make run-scaled`")
    api = args.api or (f"http://127.0.0.1:{topology['rasa'][0]['port']}" if topology and args.fault else args.url)
    run = uuid.uuid4().hex[:8]
    logdir = ROOT / "var" / "load"
    logdir.mkdir(parents=True, exist_ok=True)
    log = logdir / f"attempts-{run}.jsonl"
    classes = [
        c for c, share in (("RestCitizen", 1 - args.webchat_share), ("WebchatCitizen", args.webchat_share)) if share > 0
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LOAD_LOG": str(log),
        "LOAD_RUN": run,
        "LOAD_WEBCHAT_SHARE": str(args.webchat_share),
        "LOAD_THINK": "0" if args.no_think else args.think,
    }
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "-u",
        str(args.users),
        "-r",
        str(args.spawn_rate),
        "-t",
        f"{args.duration}s",
        "--stop-timeout",
        "90",
        "--host",
        args.url,
        "--loglevel",
        "WARNING",
        *classes,
    ]
    print(
        f"run {run}: {args.users} citizens ({', '.join(classes)}), {args.duration} s, "
        f"think {'none' if args.no_think else args.think} s, against {args.url}",
        flush=True,
    )
    print("$ " + shlex.join(command), flush=True)
    fault = None
    if args.fault:
        fault = Fault(args.topology, args.fault_at if args.fault_at is not None else args.duration / 3, token)
        fault.start()
    memory = MemoryWatch(args.rss_pid) if args.rss_pid else None
    if memory is not None:
        memory.start()
    load_before = os.getloadavg()
    code = subprocess.call(command, cwd=ROOT, env=env)
    load_after = os.getloadavg()
    rss = {}
    if memory is not None:
        memory.stopped.set()
        memory.join(timeout=10)
        rss = {str(pid): report.memory_summary(samples, args.warmup) for pid, samples in memory.samples.items()}
    if fault is not None:
        fault.join(timeout=600)
    records = report.load_records(log) if log.exists() else []
    summary = report.summarize(records)
    print("\n" + report.format_summary(summary))
    print(
        f"load average (1/5/15 min): {' / '.join(f'{x:.2f}' for x in load_before)} at start, "
        f"{' / '.join(f'{x:.2f}' for x in load_after)} at end (2 cores; above 2 other work competed)"
    )
    # Locust exits 1 when any request failed; the retries decide here whether the run failed.
    ok = code in (0, 1) and summary["messages"] > 0 and summary["not_acknowledged"] == 0
    outside: list[dict] = []
    for pid, mem in rss.items():
        if mem:
            print(
                f"RSS of pid {pid}: {mem['warmup_mb']:.0f} MB after {args.warmup:.0f} s warm-up, "
                f"{mem['end_mb']:.0f} MB at the end ({mem['change_pct']:+.1f}%), peak {mem['peak_mb']:.0f} MB"
            )
    if fault is not None:
        print("\n".join(["fault:", *(f"  {n}" for n in fault.notes)]))
        outside = report.failures_outside(records, fault.windows, args.grace)
        print(f"failed attempts outside the kill window (±{args.grace:.0f} s): {len(outside)}")
        ok = ok and not outside and bool(fault.windows)
    msgs = report.messages(records)
    trackers = fetch_trackers(api, token, sorted({m.sender for m in msgs}))
    check = report.check_all(msgs, trackers)
    print(report.format_check(check))
    ok = ok and not (check["lost"] or check["duplicated"] or check["reordered"] or check["unexpected"])
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "run": run,
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "summary": summary,
                    "check": check,
                    "load_before": load_before,
                    "load_after": load_after,
                    "fault": fault.notes if fault else None,
                    "failed_outside_window": len(outside),
                    "rss": rss,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    print(f"attempt log: {log}\nresult: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
