"""Handoff settings, read from the environment when ``load_config()`` is called (never at import).

| variable | default | meaning |
|---|---|---|
| HANDOFF_DATABASE_URL | sqlite:///$DVC_DATA_DIR/handoff.sqlite3 | ``sqlite:///path`` or ``postgresql://user@host/db`` |
| HANDOFF_HOURS | mon-fri 07:30-17:00 | when agents answer online (handoff.hours) |
| HANDOFF_HOLIDAYS | (none) | ISO dates, comma separated, closed all day |
| HANDOFF_TZ | Asia/Ho_Chi_Minh (core.settings.TIMEZONE) | time zone of the hours |
| HANDOFF_AGENT_ONLINE_SECONDS | 120 | an agent is online if the console sent a heartbeat this recently |
| HANDOFF_HOST, HANDOFF_PORT | 127.0.0.1, 5080 | where ``python -m handoff.server`` listens |
| RASA_URL | http://127.0.0.1:$RASA_PORT | the Rasa server's HTTP API (started with --enable-api) |
| RASA_TOKEN | (none) | Rasa's --auth-token, if it was started with one |
| HANDOFF_SESSION_HOURS | 12 | how long an agent login lasts at most |
| HANDOFF_IDLE_MINUTES | 30 | a session unused this long ends |
| HANDOFF_LOGIN_MAX_FAILURES, HANDOFF_LOGIN_WINDOW_SECONDS | 5, 300 | wrong logins per (username, address) before 429 |
| HANDOFF_LOGIN_MAX_FAILURES_PER_IP | 20 | wrong logins per address (any username) before 429 |
| HANDOFF_COOKIE_SECURE | auto | 1 = always Secure; 0 = never; unset = Secure except plain HTTP to localhost |
| HANDOFF_TRUSTED_PROXIES | (none) | proxies (comma-separated) whose X-Forwarded-For entry is the client |
| HANDOFF_TRUST_PROXY | 0 | 1 = HANDOFF_TRUSTED_PROXIES also lists 127.0.0.1 and ::1 |
"""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import env_flag, env_int, env_str, load_settings, timezone_name
from handoff.hours import Schedule

DEFAULT_HOURS = "mon-fri 07:30-17:00"


def _proxies() -> frozenset[str]:
    listed = {p.strip() for p in env_str("HANDOFF_TRUSTED_PROXIES", "").split(",") if p.strip()}
    if env_flag("HANDOFF_TRUST_PROXY", False):
        listed |= {"127.0.0.1", "::1"}
    return frozenset(listed)


def default_database_url() -> str:
    return f"sqlite:///{load_settings().data_dir / 'handoff.sqlite3'}"


def database_url() -> str:
    """HANDOFF_DATABASE_URL, else the SQLite file under the data folder; without parsing the rest of
    the handoff settings (the Rasa process and the recorder need only this)."""
    return env_str("HANDOFF_DATABASE_URL", "") or default_database_url()


@dataclass(frozen=True)
class HandoffConfig:
    database_url: str
    schedule: Schedule
    agent_online_seconds: int = 120
    host: str = "127.0.0.1"
    port: int = 5080
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str | None = None
    session_hours: float = 12.0
    idle_minutes: float = 30.0
    login_max_failures: int = 5
    login_window_seconds: int = 300
    login_max_failures_per_ip: int = 20
    cookie_secure: bool | None = None  # None: Secure except plain HTTP to localhost
    trusted_proxies: frozenset[str] = frozenset()


def load_config() -> HandoffConfig:
    schedule = Schedule.parse(env_str("HANDOFF_HOURS", DEFAULT_HOURS), env_str("HANDOFF_HOLIDAYS", ""), timezone_name())
    return HandoffConfig(
        database_url=database_url(),
        schedule=schedule,
        agent_online_seconds=env_int("HANDOFF_AGENT_ONLINE_SECONDS", 120),
        host=env_str("HANDOFF_HOST", "127.0.0.1"),
        port=env_int("HANDOFF_PORT", 5080),
        rasa_url=env_str("RASA_URL", f"http://127.0.0.1:{env_str('RASA_PORT', '5005')}").rstrip("/"),
        rasa_token=env_str("RASA_TOKEN", "") or None,
        session_hours=float(env_int("HANDOFF_SESSION_HOURS", 12)),
        login_max_failures=env_int("HANDOFF_LOGIN_MAX_FAILURES", 5),
        login_window_seconds=env_int("HANDOFF_LOGIN_WINDOW_SECONDS", 300),
        idle_minutes=float(env_int("HANDOFF_IDLE_MINUTES", 30)),
        login_max_failures_per_ip=env_int("HANDOFF_LOGIN_MAX_FAILURES_PER_IP", 20),
        cookie_secure=env_flag("HANDOFF_COOKIE_SECURE", False) if env_str("HANDOFF_COOKIE_SECURE", "") else None,
        trusted_proxies=_proxies(),
    )
