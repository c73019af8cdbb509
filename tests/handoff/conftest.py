"""Fixtures for the handoff tests: a store on each backend, isolated environment.

PostgreSQL: HANDOFF_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test). Each test
gets its own schema, dropped afterwards. If the server cannot be reached the PostgreSQL tests FAIL
(CI starts PostgreSQL in .ci/run); a developer without PostgreSQL can set HANDOFF_TEST_POSTGRES=skip.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from handoff.store import Store

PG_URL = os.environ.get("HANDOFF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
HANDOFF_ENV = (
    "HANDOFF_DATABASE_URL",
    "HANDOFF_HOURS",
    "HANDOFF_HOLIDAYS",
    "HANDOFF_TZ",
    "HANDOFF_PORT",
    "HANDOFF_AGENT_ONLINE_SECONDS",
    "RASA_URL",
    "RASA_TOKEN",
    "HOTLINE_NUMBER",
    "HOTLINE_NAME",
    "HOTLINE_HOURS",
    "HANDOFF_LOGIN_MAX_FAILURES",
    "HANDOFF_LOGIN_WINDOW_SECONDS",
    "HANDOFF_LOGIN_MAX_FAILURES_PER_IP",
    "HANDOFF_TRUSTED_PROXIES",
    "HANDOFF_TRUST_PROXY",
    "HANDOFF_COOKIE_SECURE",
    "HANDOFF_IDLE_MINUTES",
    "HANDOFF_SESSION_HOURS",
    "DVC_RETENTION_DAYS",
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in HANDOFF_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DVC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DVC_INDEX_DIR", str(tmp_path / "no-index"))
    monkeypatch.setenv("DVC_EMBEDDING_MODEL", "hashing")


class PostgresSchema:
    """A throw-away schema in the test database; ``url`` selects it through search_path."""

    def __init__(self, base_url: str = PG_URL) -> None:
        self.base_url = base_url
        self.name = f"handoff_t_{uuid.uuid4().hex[:10]}"
        sep = "&" if "?" in base_url else "?"
        self.url = f"{base_url}{sep}options={quote(f'-c search_path={self.name}')}"

    def __enter__(self) -> PostgresSchema:
        import psycopg

        try:
            with psycopg.connect(self.base_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE SCHEMA "{self.name}"')
        except psycopg.OperationalError as exc:
            if os.environ.get("HANDOFF_TEST_POSTGRES") == "skip":
                pytest.skip(f"PostgreSQL unreachable and HANDOFF_TEST_POSTGRES=skip: {exc}")
            pytest.fail(
                f"PostgreSQL is required for these tests but unreachable at {self.base_url}: {exc}", pytrace=False
            )
        return self

    def __exit__(self, *exc: object) -> None:
        import psycopg

        with psycopg.connect(self.base_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'handoff.sqlite3'}"
    else:
        with PostgresSchema() as schema:
            yield schema.url


@pytest.fixture()
def store(store_url: str):
    s = Store(store_url)
    yield s
    s.close()
