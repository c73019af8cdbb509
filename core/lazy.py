"""A value built once per process on first use (never at import), under a lock so concurrent first
callers build it once. Standard library only.

>>> built = []
>>> numbers = Lazy(lambda: built.append(1) or 42)
>>> numbers(), numbers(), built
(42, 42, [1])
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Lazy"]

T = TypeVar("T")


class Lazy(Generic[T]):
    """Call it for the value; ``value`` is None until the first call (set it to None to build anew)."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self.value: T | None = None

    def __call__(self) -> T:
        value = self.value
        if value is None:
            with self._lock:
                value = self.value
                if value is None:
                    value = self.value = self._build()
        return value
