"""Data at rest: retention for every store, log rotation, owner-only permissions under var/.

    .venv-actions/bin/python scripts/retention.py [--days 30] [--dry-run]

Run by ``scripts/servers.py`` when the servers start and then once a day (``make run``); safe to run
by hand or from cron at any time. What it does:

* Rasa's conversations (SQLite tracker store, ``RASA_TRACKER_DB`` or ``var/rasa-tracker*.sqlite3``):
  deletes every event of the conversations whose last event is older than ``DVC_RETENTION_DAYS``
  (default 30); a conversation still going on is kept whole.
* The web chat history (``WEBCHAT_DB``) and the REST outbox (``REST_OUTBOX_DB``), SQLite files or
  PostgreSQL (the scaled topology): messages older than that; the webhook dedupe (``DVC_DEDUPE_DB``):
  keys older than ``DVC_DEDUPE_DAYS`` (7).
* The handoff database (``HANDOFF_DATABASE_URL``, SQLite or PostgreSQL): ``Store.purge`` (finished
  handoffs, done call-backs, decisions, replies sent or refused (the Zalo/Messenger outbox), sessions,
  login failures; the audit trail after
  ``DVC_AUDIT_RETENTION_DAYS``, default 365).
* Logs (``var/logs/*.log``): rotated (copy, then truncate: the servers keep writing to the same
  file), ``DVC_LOG_KEEP`` (7) old copies kept.
* ``var/`` and everything in it: directories 0700, files 0600.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _days(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


def data_dir() -> Path:
    raw = Path(os.environ.get("DVC_DATA_DIR") or "var").expanduser()
    return raw if raw.is_absolute() else ROOT / raw


def _path(env: str, default: str) -> Path | None:
    raw = os.environ.get(env) or default
    if raw == ":memory:" or _is_postgres(raw):
        return None
    path = Path(raw).expanduser()
    return path if path.is_absolute() else ROOT / path


def _sqlite(path: Path | None, sql: list[tuple[str, tuple]]) -> int:
    if path is None or not path.exists():
        return 0
    deleted = 0
    with sqlite3.connect(path, timeout=30) as db:
        db.execute("PRAGMA busy_timeout=30000")
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for statement, args in sql:
            table = statement.split("FROM", 1)[1].split()[0]
            if table in tables:
                deleted += db.execute(statement, args).rowcount
    return deleted


def purge_tracker(path: Path | None, cutoff: float) -> int:
    return _sqlite(
        path,
        [
            (
                "DELETE FROM events WHERE sender_id IN (SELECT sender_id FROM events "
                "GROUP BY sender_id HAVING MAX(timestamp) < ?)",
                (cutoff,),
            )
        ],
    )


def purge_mailbox(path: Path | None, cutoff: float) -> int:
    return _sqlite(
        path,
        [
            ("DELETE FROM events WHERE ts < ?", (cutoff,)),
            ("DELETE FROM handled WHERE ts < ?", (cutoff,)),
            ("DELETE FROM delivered WHERE sender NOT IN (SELECT DISTINCT sender FROM events)", ()),
        ],
    )


def _is_postgres(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


def purge_shared_mailboxes(cutoff: float) -> int:
    """The web chat mailbox and REST outbox in PostgreSQL (bot/channels/shared_mailbox.py), if used."""
    urls = {os.environ.get(env) or "" for env in ("WEBCHAT_DB", "REST_OUTBOX_DB")}
    deleted = 0
    for url in sorted(u for u in urls if _is_postgres(u)):
        import psycopg

        from bot.channels.shared_mailbox import purge  # the mailbox's own retention, for every box

        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn, conn.transaction():
            if conn.execute("SELECT to_regclass('mailbox_events')").fetchone()[0] is None:
                continue
            deleted += purge(conn, cutoff)
    return deleted


def purge_shared_dedupe(cutoff: float) -> int:
    """The webhook dedupe keys in PostgreSQL (bot/channels/dedupe.py, the scaled topology), if used."""
    url = os.environ.get("DVC_DEDUPE_DB") or ""
    if not _is_postgres(url):
        return 0
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT to_regclass('webhook_seen')").fetchone()[0] is None:
            return 0
        return conn.execute("DELETE FROM webhook_seen WHERE ts < %s", (cutoff,)).rowcount


def purge_dedupe(path: Path | None, cutoff: float) -> int:
    return _sqlite(path, [("DELETE FROM seen WHERE ts < ?", (cutoff,))])


def purge_handoff(cutoff: float, audit_cutoff: float) -> dict[str, int]:
    from handoff.config import database_url
    from handoff.store import Store

    store = Store(database_url())
    try:
        if store.backend == "sqlite" and not Path(store.path).exists():
            return {}
        return store.purge(cutoff, audit_cutoff)
    finally:
        store.close()


def rotate_logs(logs: Path, keep: int) -> int:
    """Copy ``x.log`` to ``x.log.1`` (older copies shift up to ``keep``), then empty ``x.log``."""
    rotated = 0
    for log in sorted(logs.glob("*.log")):
        if log.stat().st_size == 0:
            continue
        for i in range(keep - 1, 0, -1):
            older = log.with_name(f"{log.name}.{i}")
            if older.exists():
                older.replace(log.with_name(f"{log.name}.{i + 1}"))
        shutil.copyfile(log, log.with_name(f"{log.name}.1"))
        with log.open("r+b") as fh:  # the servers write with O_APPEND: they carry on at offset 0
            fh.truncate(0)
        rotated += 1
    for extra in logs.glob("*.log.*"):
        suffix = extra.name.rsplit(".", 1)[-1]
        if suffix.isdigit() and int(suffix) > keep:
            extra.unlink()
    return rotated


def lock_down(path: Path) -> None:
    """Directories 0700, files 0600, under ``path`` (and ``path`` itself)."""
    if not path.exists():
        return
    path.chmod(0o700)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o700)
        for name in files:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                os.chmod(full, 0o600)


def run(days: float, rotate: bool = True) -> dict[str, object]:
    now = time.time()
    cutoff = now - days * 86400
    var = data_dir()
    trackers = {_path("RASA_TRACKER_DB", "var/rasa-tracker.sqlite3"), *var.glob("rasa-tracker*.sqlite3")}
    report: dict[str, object] = {
        "tracker_events": sum(purge_tracker(p, cutoff) for p in trackers if p),
        "webchat_events": purge_mailbox(_path("WEBCHAT_DB", "var/webchat.sqlite3"), cutoff),
        "rest_outbox_events": purge_mailbox(_path("REST_OUTBOX_DB", "var/rest-outbox.sqlite3"), cutoff),
        "shared_mailbox_events": purge_shared_mailboxes(cutoff),
        "dedupe_keys": purge_dedupe(
            _path("DVC_DEDUPE_DB", "var/webhook-dedupe.sqlite3"), now - _days("DVC_DEDUPE_DAYS", 7) * 86400
        ),
        "shared_dedupe_keys": purge_shared_dedupe(now - _days("DVC_DEDUPE_DAYS", 7) * 86400),
        "handoff": purge_handoff(cutoff, now - _days("DVC_AUDIT_RETENTION_DAYS", 365) * 86400),
    }
    if rotate:
        report["logs_rotated"] = (
            rotate_logs(var / "logs", int(_days("DVC_LOG_KEEP", 7))) if (var / "logs").exists() else 0
        )
    lock_down(var)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=_days("DVC_RETENTION_DAYS", 30))
    parser.add_argument("--no-rotate", action="store_true", help="do not rotate the logs")
    args = parser.parse_args(argv)
    report = run(args.days, rotate=not args.no_rotate)
    print("retention:", ", ".join(f"{k}={v}" for k, v in report.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
