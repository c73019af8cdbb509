"""Working hours of the online agents: when a handoff may enter the queue.

Format of ``HANDOFF_HOURS`` (case-insensitive), groups separated by ``;``::

    mon-fri 07:30-17:00
    mon-fri 07:30-11:30,13:00-17:00; sat 07:30-11:30
    mon,wed,fri 08:00-12:00
    daily 00:00-24:00        (also: "always", "24/7")

Days: mon tue wed thu fri sat sun, ranges may wrap (``sat-mon``). ``24:00`` is the end of a day.
Holidays (``HANDOFF_HOLIDAYS``): ISO dates ``2026-01-01, 2026-04-30`` (comma or space separated),
closed all day. Times are local to ``HANDOFF_TZ`` (default Asia/Ho_Chi_Minh).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.settings import TIMEZONE

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")
ALWAYS = {"always", "24/7", "daily 00:00-24:00", "mon-sun 00:00-24:00"}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def _minutes(text: str, spec: str) -> int:
    match = _TIME.match(text.strip())
    if not match:
        raise ValueError(f"HANDOFF_HOURS: {text!r} is not a time like 07:30 (in {spec!r})")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"HANDOFF_HOURS: {text!r} is not a valid time (in {spec!r})")
    return hours * 60 + minutes


def _days(text: str, spec: str) -> set[int]:
    result: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if part in ("daily", "everyday", "all"):
            return set(range(7))
        if "-" in part:
            first, last = (p.strip() for p in part.split("-", 1))
            if first not in DAYS or last not in DAYS:
                raise ValueError(f"HANDOFF_HOURS: unknown day range {part!r} (in {spec!r}); use mon..sun")
            i, j = DAYS.index(first), DAYS.index(last)
            while True:
                result.add(i)
                if i == j:
                    break
                i = (i + 1) % 7
        elif part in DAYS:
            result.add(DAYS.index(part))
        else:
            raise ValueError(f"HANDOFF_HOURS: unknown day {part!r} (in {spec!r}); use mon..sun")
    return result


@dataclass(frozen=True)
class Schedule:
    """Opening intervals per weekday (0 = Monday), in minutes since local midnight."""

    spec: str
    intervals: tuple[tuple[tuple[int, int], ...], ...]  # 7 tuples of (start, end)
    holidays: frozenset[date] = frozenset()
    tz: str = TIMEZONE

    @classmethod
    def parse(cls, spec: str, holidays: str | list | frozenset = "", tz: str = TIMEZONE) -> Schedule:
        text = " ".join((spec or "").lower().split())
        per_day: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        if text in ALWAYS:
            per_day = [[(0, 24 * 60)] for _ in range(7)]
        elif text:
            for group in text.split(";"):
                group = group.strip()
                if not group:
                    continue
                fields = group.split(" ", 1)
                if len(fields) != 2:
                    raise ValueError(f"HANDOFF_HOURS: {group!r} needs days and times, e.g. 'mon-fri 07:30-17:00'")
                days = _days(fields[0], spec)
                for window in fields[1].replace(" ", "").split(","):
                    if "-" not in window:
                        raise ValueError(f"HANDOFF_HOURS: {window!r} is not a range like 07:30-17:00")
                    start, end = (_minutes(t, spec) for t in window.split("-", 1))
                    if end <= start:
                        raise ValueError(f"HANDOFF_HOURS: {window!r} ends before it starts")
                    for day in days:
                        per_day[day].append((start, end))
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"HANDOFF_TZ: unknown time zone {tz!r}") from exc
        return cls(
            spec=spec, intervals=tuple(tuple(sorted(d)) for d in per_day), holidays=parse_holidays(holidays), tz=tz
        )

    def is_open(self, when: datetime | None = None) -> bool:
        local = (when or datetime.now(tz=ZoneInfo("UTC"))).astimezone(ZoneInfo(self.tz))
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.intervals[local.weekday()])

    def describe_vi(self) -> str:
        """E.g. "Thứ Hai – Thứ Sáu, 07:30–17:00 (trừ ngày lễ)"."""
        if all(d == ((0, 1440),) for d in self.intervals):
            text = "mọi ngày, 24 giờ"
        else:
            groups: list[tuple[list[int], tuple]] = []
            for day, windows in enumerate(self.intervals):
                if not windows:
                    continue
                if groups and groups[-1][1] == windows and groups[-1][0][-1] == day - 1:
                    groups[-1][0].append(day)
                else:
                    groups.append(([day], windows))
            parts = []
            for days, windows in groups:
                first, last = DAY_NAMES_VI[days[0]], DAY_NAMES_VI[days[-1]]
                names = first if len(days) == 1 else f"{first} – {last}"
                times = ", ".join(f"{_hhmm(s)}–{_hhmm(e)}" for s, e in windows)
                parts.append(f"{names}, {times}")
            text = "; ".join(parts) if parts else "hiện chưa có lịch trực"
        return text + (" (trừ ngày lễ)" if self.holidays else "")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_holidays(value: str | list | frozenset | None) -> frozenset[date]:
    if not value:
        return frozenset()
    items = value if isinstance(value, (list, frozenset, set, tuple)) else re.split(r"[,\s;]+", str(value))
    result = set()
    for item in items:
        if isinstance(item, date):
            result.add(item)
            continue
        item = str(item).strip()
        if not item:
            continue
        try:
            result.add(date.fromisoformat(item))
        except ValueError as exc:
            raise ValueError(f"HANDOFF_HOLIDAYS: {item!r} is not a date like 2026-04-30") from exc
    return frozenset(result)
