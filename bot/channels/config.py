"""Channel settings: a value from credentials.yml, else the environment, else a default."""

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from core.settings import env_str


logger = logging.getLogger(__name__)

DEFAULT_DEDUP_CAPACITY = 10_000
DEFAULT_HTTP_TIMEOUT_SECONDS = 10.0
# Largest webhook body accepted (a Zalo event is < 4 KiB, a Messenger batch a few); larger -> 413.
MAX_WEBHOOK_BODY_BYTES = 256 * 1024


def config_value(
    credentials: Mapping[str, Any] | None,
    keys: Iterable[str],
    env_var: str | None,
    default: Any = None,
) -> Any:
    """Returns the first non-empty value of ``keys`` in ``credentials``.

    Falls back to the environment variable ``env_var`` and then to ``default``.
    Empty strings count as "not configured" so that a credentials.yml entry such
    as ``access_token: ""`` does not shadow the environment.
    """
    credentials = credentials or {}
    for key in keys:
        value = credentials.get(key)
        if value is not None and value != "":
            return value.strip() if isinstance(value, str) else value
    if env_var:
        value = env_str(env_var, "")
        if value:
            return value
    return default


def str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
