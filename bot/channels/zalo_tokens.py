"""The Zalo OA token pair: kept in a file, refreshed once at a time (refresh tokens are single-use)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.channels import http_utils
from core.privacy import mask_secret

if TYPE_CHECKING:
    from bot.channels.zalo import ZaloConfig

logger = logging.getLogger(__name__)


def _fingerprint(token: str | None) -> str | None:
    if not token:
        return None
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


class ZaloTokenStore:
    """Holds the OA access/refresh token pair and refreshes it when needed.

    Zalo refresh tokens are single-use: every refresh returns a new pair and
    invalidates the old refresh token. Refreshes are therefore serialised with an
    ``asyncio.Lock`` and the new pair is persisted atomically to ``token_file``
    (JSON) so it survives restarts. On start, the file wins over the configured
    tokens unless the operator configured a *different* refresh token (i.e. they
    re-authorised the OA), in which case the configured pair wins.
    """

    def __init__(self, config: ZaloConfig) -> None:
        self.config = config
        self.token_file = Path(config.token_file)
        self.access_token: str | None = config.access_token
        self.refresh_token: str | None = config.refresh_token
        self._seed = _fingerprint(config.refresh_token)
        self._file_mtime: float | None = None
        self._lock: asyncio.Lock | None = None
        self._load_file(initial=True)

    @property
    def can_refresh(self) -> bool:
        return bool(self.refresh_token and self.config.app_id and self.config.app_secret)

    def _read_file(self) -> dict[str, Any] | None:
        try:
            stat = self.token_file.stat()
        except FileNotFoundError:
            return None
        except OSError as e:
            logger.warning("Cannot stat Zalo token file %s: %s", self.token_file, e)
            return None
        try:
            data = json.loads(self.token_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            logger.error("Ignoring unreadable Zalo token file %s: %s", self.token_file, e)
            return None
        if not isinstance(data, dict) or not data.get("access_token"):
            logger.error("Ignoring Zalo token file %s without access_token.", self.token_file)
            return None
        self._file_mtime = stat.st_mtime
        return data

    def _load_file(self, initial: bool = False) -> bool:
        """Adopts the tokens in the file if they belong to the configured chain."""
        data = self._read_file()
        if data is None:
            return False
        configured = _fingerprint(self.config.refresh_token)
        same_chain = configured is None or configured in {
            data.get("seed"),
            _fingerprint(data.get("refresh_token")),
        }
        if not same_chain:
            if initial:
                logger.info(
                    "Configured Zalo refresh token differs from %s; using the "
                    "configured tokens (OA was re-authorised).",
                    self.token_file,
                )
            return False
        self.access_token = str(data["access_token"])
        self.refresh_token = str(data.get("refresh_token") or "") or self.refresh_token
        self._seed = data.get("seed") or configured or self._seed
        if initial:
            logger.info("Loaded Zalo OA tokens from %s.", self.token_file)
        return True

    def _file_changed(self) -> bool:
        try:
            mtime = self.token_file.stat().st_mtime
        except OSError:
            return False
        return self._file_mtime is None or mtime != self._file_mtime

    def persist(self, extra: Mapping[str, Any] | None = None) -> bool:
        """Atomically writes the current pair to ``token_file`` (mode 0600)."""
        payload = {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "seed": self._seed,
            "updated_at": int(time.time()),
        }
        if extra:
            payload.update({k: v for k, v in extra.items() if k not in payload})
        try:
            self.token_file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=str(self.token_file.parent), prefix=".zalo_tokens.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(payload, fh, ensure_ascii=False, indent=2)
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.token_file)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
            self._file_mtime = self.token_file.stat().st_mtime
            return True
        except OSError as e:
            logger.error(
                "Could not persist refreshed Zalo tokens to %s: %s. The new "
                "refresh token only lives in memory now; a restart will need a "
                "re-authorisation of the OA.",
                self.token_file,
                e,
            )
            return False

    async def refresh(self, failed_token: str | None) -> str | None:
        """Returns a fresh access token, refreshing at most once per failure.

        ``failed_token`` is the token the caller saw rejected. If another task
        (or another process, via the token file) refreshed meanwhile, the newer
        token is returned without spending the single-use refresh token.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.access_token and self.access_token != failed_token:
                return self.access_token
            if self._file_changed() and self._load_file() and self.access_token and self.access_token != failed_token:
                logger.info("Using Zalo tokens refreshed by another process.")
                return self.access_token
            if not self.can_refresh:
                logger.error(
                    "Zalo access token rejected and no refresh possible (need "
                    "refresh token, ZALO_APP_ID and ZALO_APP_SECRET)."
                )
                return None

            result = await http_utils.post(
                self.config.oauth_url,
                form={
                    "refresh_token": self.refresh_token or "",
                    "app_id": self.config.app_id or "",
                    "grant_type": "refresh_token",
                },
                headers={"secret_key": self.config.app_secret or ""},
                timeout=self.config.timeout,
            )
            data = result.data or {}
            new_access = data.get("access_token")
            if not new_access:
                logger.error(
                    "Zalo token refresh failed (HTTP %s, error=%s, %s). Re-authorise "
                    "the OA and set a new ZALO_REFRESH_TOKEN.",
                    result.status,
                    data.get("error", result.error),
                    data.get("error_description") or data.get("message") or "",
                )
                return None
            self.access_token = str(new_access)
            if data.get("refresh_token"):
                self.refresh_token = str(data["refresh_token"])
            else:
                logger.warning("Zalo token refresh returned no new refresh token.")
            self.persist({"expires_in": data.get("expires_in")})
            logger.info("Refreshed Zalo OA access token (%s).", mask_secret(self.access_token))
            return self.access_token
