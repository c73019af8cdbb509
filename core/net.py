"""The address of the client behind an HTTP request, for rate limits and audit logs.

Standard library only; used by the public channels (bot/channels/guard.py) and the agent console
(handoff/server.py). Behind a proxy listed in ``DVC_TRUSTED_PROXIES`` (comma-separated addresses)
the address is the **last** ``X-Forwarded-For`` entry, the one that proxy appended (a client can put
anything in the entries before it).
"""

from __future__ import annotations

from typing import Any

from core.settings import env_str

__all__ = ["client_address", "trusted_proxies"]


def trusted_proxies() -> frozenset[str]:
    raw = env_str("DVC_TRUSTED_PROXIES", "")
    return frozenset(p.strip() for p in raw.split(",") if p.strip())


def client_address(request: Any, proxies: frozenset[str] | None = None) -> str:
    """The peer address, or the entry the trusted proxy appended to ``X-Forwarded-For``."""
    peer = getattr(request, "ip", "") or ""
    if not peer:
        conn = getattr(request, "conn_info", None)
        peer = str(getattr(conn, "client_ip", "") or "")
    proxies = trusted_proxies() if proxies is None else proxies
    if peer in proxies:
        forwarded = [p.strip() for p in (request.headers.get("x-forwarded-for") or "").split(",")]
        forwarded = [p for p in forwarded if p]
        if forwarded:
            return forwarded[-1]
    return peer or "unknown"
