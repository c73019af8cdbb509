"""Web chat conversations bound to the browser that opened them, and CORS for portal origins.

* The server issues every web chat conversation (``POST /webhooks/webchat/session``): a random id
  ``w-<32 hex>`` and a token, ``HMAC-SHA256(secret, "webchat:" + id)``. The widget keeps both in
  its localStorage and sends the token in the ``X-Webchat-Token`` header with every send and poll;
  a wrong or missing token -> ``403``. Another channel's conversation id (a REST sender, a Zalo
  user) can never be used: only ids this server issued have a valid token.
* The secret: ``WEBCHAT_SECRET``, else the file ``var/webchat-secret`` (``WEBCHAT_SECRET_FILE``),
  created with 32 random bytes and mode 0600 on first use. Changing it ends every web chat
  conversation (the widgets then ask for a new one).
* CORS only for the portal origins in ``WEBCHAT_ALLOWED_ORIGINS`` (comma-separated, e.g.
  ``https://dichvucong.example.gov.vn``), only on the web chat routes, without credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from core.settings import env_raw, env_str

logger = logging.getLogger(__name__)

TOKEN_HEADER = "X-Webchat-Token"
DEFAULT_SECRET_FILE = "var/webchat-secret"
SENDER_PREFIX = "w-"


def _read_or_create(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_hex(32).encode("ascii")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
    logger.info("Web chat: created a new secret in %s.", path)
    return value


def load_secret() -> bytes:
    value = env_str("WEBCHAT_SECRET", "")
    if value:
        return value.encode("utf-8")
    return _read_or_create(Path(env_raw("WEBCHAT_SECRET_FILE") or DEFAULT_SECRET_FILE))


class Binder:
    """Issues conversation ids with their tokens and checks them (constant time)."""

    def __init__(self, secret: bytes | None = None, scope: str = "webchat") -> None:
        self._secret = secret
        self.scope = scope

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = load_secret()
        return self._secret

    def token(self, sender: str) -> str:
        mac = hmac.new(self.secret, f"{self.scope}:{sender}".encode(), hashlib.sha256)
        return mac.hexdigest()

    def issue(self) -> tuple[str, str]:
        sender = SENDER_PREFIX + secrets.token_hex(16)
        return sender, self.token(sender)

    def valid(self, sender: str, token: str | None) -> bool:
        if not token or len(token) > 256:
            return False
        return hmac.compare_digest(self.token(sender).encode(), token.strip().encode("utf-8", "replace"))


def allowed_origins() -> frozenset[str]:
    raw = env_str("WEBCHAT_ALLOWED_ORIGINS", "")
    return frozenset(o.strip().rstrip("/") for o in raw.split(",") if o.strip())


def cors_headers(origin: str | None, origins: frozenset[str], preflight: bool = False) -> dict[str, str]:
    """CORS headers for ``origin`` if it is an allowed portal origin, else none."""
    if not origin or origin.rstrip("/") not in origins:
        return {}
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    if preflight:
        headers.update(
            {
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": f"Content-Type, {TOKEN_HEADER}",
                "Access-Control-Max-Age": "600",
            }
        )
    return headers
