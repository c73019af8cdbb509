"""python -m handoff.admin, and the password hashing behind it."""

from __future__ import annotations

import os
import subprocess
import sys

from handoff.passwords import hash_password, verify_password
from handoff.store import Store
from tests.handoff.harness import ROOT


def admin(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HANDOFF_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "handoff.admin", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_create_agent_with_password_from_stdin(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    done = admin(
        url, "create-agent", "Lan.Nguyen", "--name", "Nguyễn Thị Lan", "--password-stdin", stdin="mot-mat-khau-dai\n"
    )
    assert done.returncode == 0, done.stderr
    store = Store(url)
    agent = store.agent_by_username("lan.nguyen")
    assert agent["display_name"] == "Nguyễn Thị Lan"
    assert agent["password_hash"].startswith("scrypt$") and "mot-mat-khau-dai" not in agent["password_hash"]
    assert verify_password("mot-mat-khau-dai", agent["password_hash"])
    store.close()

    assert admin(url, "create-agent", "lan.nguyen", "--password-stdin", stdin="mot-mat-khau-khac\n").returncode != 0
    assert admin(url, "create-agent", "minh", "--password-stdin", stdin="ngan\n").returncode != 0
    assert admin(url, "create-agent", "x", "--password-stdin", stdin="mot-mat-khau-dai\n").returncode != 0
    assert admin(url, "set-password", "lan.nguyen", "--password-stdin", stdin="mat-khau-moi-123\n").returncode == 0
    assert admin(url, "disable-agent", "lan.nguyen").returncode == 0
    listed = admin(url, "list-agents")
    assert "lan.nguyen" in listed.stdout and "khoá" in listed.stdout


def test_password_hashes_are_salted_per_user_and_checked_in_constant_time():
    a, b = hash_password("cung-mot-mat-khau"), hash_password("cung-mot-mat-khau")
    assert a != b  # a different salt each time
    assert verify_password("cung-mot-mat-khau", a) and verify_password("cung-mot-mat-khau", b)
    assert not verify_password("sai", a)
    assert not verify_password("x", None) and not verify_password("x", "md5$abc") and not verify_password("x", "junk")
