"""The one place that reads configuration (environment variables with defaults).

Both processes import this module: the Rasa server (Python 3.10) and the action server
(Python 3.11). It has no third-party imports so it loads anywhere, and it reads the
environment only when ``load_settings()`` (or one of the ``env_*`` readers) is called, never at
import. The other packages read their own variables through ``env_str`` / ``env_int`` /
``env_float`` / ``env_flag`` here (``env_raw`` where a caller parses the value as set), so every
variable has one parser; ``tests/core/test_one_home.py`` fails if a module elsewhere touches
``os.environ``.

Every variable is listed, with its default, in ``.env.example``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The time zone of the province: opening hours, report days, retention. HANDOFF_TZ overrides it.
TIMEZONE = "Asia/Ho_Chi_Minh"
_TRUE_STRINGS = frozenset({"1", "true", "yes", "y", "on"})
_FALSE_STRINGS = frozenset({"0", "false", "no", "n", "off", ""})
T = TypeVar("T")


def cache_root() -> Path:
    """Folder for large downloads kept outside the clone (embedding model, wheels, venvs)."""
    base = env_raw("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tro-ly-dvc"


def parse_bool(value: object, default: bool | None = None) -> bool | None:
    """``value`` (bool, number or a string such as "true" / "0" / "off") as a bool; ``default`` when it is
    None or a string that is neither.

    >>> parse_bool(" Yes "), parse_bool("0"), parse_bool(""), parse_bool(None, True), parse_bool("maybe", True)
    (True, False, False, True, True)
    """
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE_STRINGS:
        return True
    if text in _FALSE_STRINGS:
        return False
    logging.getLogger(__name__).warning("Cannot interpret %r as a boolean, using %r.", value, default)
    return default


def env_raw(name: str) -> str | None:
    """The value of ``name`` exactly as set (not stripped), None when unset: for a caller with its own parser."""
    return os.environ.get(name)


def env_str(name: str, default: str) -> str:
    """The stripped value of ``name``; ``default`` when it is unset or blank."""
    value = os.environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def _env_number(name: str, default: T, parse: Callable[[str], T], what: str) -> T:
    """``parse`` of ``name`` stripped; ``default`` when unset or blank; a clear error naming the variable."""
    raw = env_str(name, "")
    if raw == "":
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be {what}, got {raw!r}") from exc


def env_int(name: str, default: int) -> int:
    """A whole number from ``name``; a clear error names the variable when it is not one."""
    return _env_number(name, default, int, "a whole number")


def env_float(name: str, default: float) -> float:
    """A number from ``name``; a clear error names the variable when it is not one."""
    return _env_number(name, default, float, "a number")


def env_flag(name: str, default: bool) -> bool:
    """A switch: 1/true/yes/y/on or 0/false/no/n/off; unset, blank or anything else is ``default``."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return bool(parse_bool(value, default))


def env_setdefault(name: str, value: str) -> None:
    """Sets ``name`` to ``value`` for this process (and what it starts) unless it is already set."""
    os.environ.setdefault(name, value)


@contextmanager
def env_override(name: str, value: str) -> Iterator[None]:
    """``name`` set to ``value`` for the ``with`` block, then as it was before (unset if it was)."""
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def timezone_name() -> str:
    """The time zone of hours and reports: HANDOFF_TZ, else :data:`TIMEZONE`."""
    return env_str("HANDOFF_TZ", TIMEZONE)


def _path(name: str, default: Path) -> Path:
    raw = env_str(name, str(default))
    path = Path(raw).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


@dataclass(frozen=True)
class Hotline:
    """Who a citizen is handed to.

    Defaults that are true today: Thành phố Hồ Chí Minh (Bình Dương merged into it on 1 July 2025)
    and its Tổng đài 1022. No opening hours by default: they are printed only when HOTLINE_HOURS
    is set (the old "24/7" was Bình Dương's 2021 information).
    """

    number: str = "1022"
    name: str = "Tổng đài 1022"
    hours: str = ""
    province: str = "Thành phố Hồ Chí Minh"

    @property
    def contact(self) -> str:
        """How replies name the hotline: the number once, hours only when configured.

        >>> Hotline().contact
        'Tổng đài 1022'
        >>> Hotline(name="Tổng đài Hành chính công", number="0901 234 567", hours="7h30-17h").contact
        'Tổng đài Hành chính công (số 0901 234 567, 7h30-17h)'
        """
        details = [] if self.number in self.name else [f"số {self.number}"]
        if self.hours:
            details.append(self.hours)
        return f"{self.name} ({', '.join(details)})" if details else self.name

    def placeholders(self) -> dict[str, str]:
        """Values for the ``{hotline}``-style placeholders used in guides and responses."""
        return {
            "hotline": self.number,
            "hotline_name": self.name,
            "hotline_hours": self.hours,
            "province": self.province,
        }


@dataclass(frozen=True)
class Settings:
    hotline: Hotline = field(default_factory=Hotline)
    knowledge_dir: Path = PROJECT_ROOT / "knowledge"
    index_dir: Path = PROJECT_ROOT / "models" / "index"
    data_dir: Path = PROJECT_ROOT / "var"
    # Any sentence-transformers model id or local path; "none" disables dense search.
    embedding_model: str = str(cache_root() / "models" / "embeddinggemma-300m")
    # Decision thresholds; defaults come from `make calibrate` (docs/evaluation.md).
    # None means "use the calibrated values stored in retrieval/thresholds.json".
    answer_threshold: float | None = None
    margin_threshold: float | None = None
    # torch intra-op threads of a process that serves searches (action server, evaluation); 0 = one
    # per core. One is cheapest per message under load (docs/scale.md).
    torch_threads: int = 1


def load_settings() -> Settings:
    """Read the environment now. Cheap; call it where the values are needed."""
    hotline = Hotline(
        number=env_str("HOTLINE_NUMBER", Hotline.number),
        name=env_str("HOTLINE_NAME", Hotline.name),
        hours=env_str("HOTLINE_HOURS", Hotline.hours),  # empty = print no opening hours
        province=env_str("PROVINCE_NAME", Hotline.province),
    )
    answer = env_raw("DVC_ANSWER_THRESHOLD")
    margin = env_raw("DVC_MARGIN_THRESHOLD")
    return Settings(
        hotline=hotline,
        knowledge_dir=_path("DVC_KNOWLEDGE_DIR", PROJECT_ROOT / "knowledge"),
        index_dir=_path("DVC_INDEX_DIR", PROJECT_ROOT / "models" / "index"),
        data_dir=_path("DVC_DATA_DIR", PROJECT_ROOT / "var"),
        embedding_model=env_str("DVC_EMBEDDING_MODEL", str(cache_root() / "models" / "embeddinggemma-300m")),
        answer_threshold=env_float("DVC_ANSWER_THRESHOLD", 0.0) if answer else None,
        margin_threshold=env_float("DVC_MARGIN_THRESHOLD", 0.0) if margin else None,
        torch_threads=int(env_float("DVC_TORCH_THREADS", 1)),
    )
