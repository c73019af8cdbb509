"""What every benchmark report is made of (standard library + numpy only): latency percentiles, the
machine and its memory, Markdown tables, and the report file. Shared by evaluation/benchmark.py,
evaluation/faiss_benchmark.py and scripts/bench_bot.py.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.settings import PROJECT_ROOT


Section = tuple[str, str]  # (title, Markdown body)


def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / max of latencies in milliseconds (linear interpolation between samples)."""
    if not values_ms:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    p50, p95 = np.percentile(np.asarray(values_ms, dtype=float), [50, 95])
    return {"n": len(values_ms), "p50": float(p50), "p95": float(p95), "max": float(max(values_ms))}


def proc_status_kb(pid: int | str = "self", field: str = "VmRSS") -> int:
    """One ``kB`` field of /proc/<pid>/status (0 when the process is gone or the field missing)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def peak_rss_mb() -> float:
    """Peak resident memory of this process (``ru_maxrss`` is in kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_info() -> dict[str, str]:
    """What the numbers were measured on: CPU model, cores, RAM, Python."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = proc_meminfo_kb("MemTotal") / 1024 / 1024
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": f"{ram_gb:.1f} GB",
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
    }


def proc_meminfo_kb(field: str) -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def git_commit(root: Path = PROJECT_ROOT) -> str:
    """Short commit of the work tree, marked when tracked files differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], check=False, cwd=root, capture_output=True, text=True, timeout=30
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD") or "unknown"
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit} (with uncommitted changes)" if dirty else commit


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table padded to line up in a terminal too; first column left, others right."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths)))
            + " |"
        )

    rule = "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), rule] + [line(r) for r in cells])


def report_markdown(title: str, facts: Sequence[tuple[str, str]], sections: Sequence[Section]) -> str:
    head = [f"# {title}", ""] + [f"- **{k}**: {v}" for k, v in facts]
    body = [f"\n## {name}\n\n{text}" for name, text in sections]
    return "\n".join(head) + "\n" + "\n".join(body) + "\n"


def common_facts(command: str) -> list[tuple[str, str]]:
    machine = machine_info()
    return [
        ("date", time.strftime("%Y-%m-%d %H:%M:%S %z")),
        ("machine", f"{machine['cpu']}, {machine['cores']} cores, {machine['ram']} RAM, {machine['os']}"),
        ("python", machine["python"]),
        ("git commit", git_commit()),
        ("command", f"`{command}`"),
    ]


def load_average() -> str:
    """The 1/5/15-minute load averages: timings from a busy machine are not comparable."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def load_fact(at_start: str) -> tuple[str, str]:
    """The load before and after a run, as a report fact."""
    text = (
        f"{at_start} at start, {load_average()} at end; above {os.cpu_count()} (the cores) other work "
        "competed for the CPU and the timings are pessimistic"
    )
    return "load average (1/5/15 min)", text


# A block another benchmark writes into the same report (evaluation/faiss_benchmark.py): kept when
# this report is rewritten.
KEPT_BLOCK = ("<!-- faiss-benchmark:start -->", "<!-- faiss-benchmark:end -->")


def splice_block(document: str, block: str) -> str:
    """``document`` with its kept block replaced by ``block`` (appended when it has none)."""
    start, end = KEPT_BLOCK
    if start in document and end in document:
        head, rest = document.split(start, 1)
        return head + block + rest.split(end, 1)[1]
    return document.rstrip("\n") + "\n\n" + block + "\n"


def write_report(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    start, end = KEPT_BLOCK
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in old and end in old and start not in text:
        text = splice_block(text, start + old.split(start, 1)[1].split(end, 1)[0] + end)
    path.write_text(text, encoding="utf-8")
    print(f"\nwrote {path}", file=sys.stderr)


def ms(value: float) -> str:
    return f"{value:.1f}"
