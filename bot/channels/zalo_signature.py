"""The Zalo webhook signature: ``X-ZEvent-Signature: mac=`` + hex(sha256(app_id + raw body + timestamp +
OA secret key)), checked in constant time."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-ZEvent-Signature"
SIGNATURE_PREFIX = "mac="


def compute_signature(app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str) -> str:
    """``mac=`` + hex(sha256(app_id + raw_body + timestamp + oa_secret_key))."""
    digest = hashlib.sha256(
        app_id.encode("utf-8") + raw_body + timestamp.encode("utf-8") + oa_secret_key.encode("utf-8")
    ).hexdigest()
    return SIGNATURE_PREFIX + digest


def verify_signature(
    header_value: str | None,
    app_id: str,
    raw_body: bytes,
    timestamp: str,
    oa_secret_key: str,
) -> bool:
    """Constant-time check of the ``X-ZEvent-Signature`` header."""
    if not header_value:
        return False
    supplied = header_value.strip()
    if supplied[: len(SIGNATURE_PREFIX)].lower() == SIGNATURE_PREFIX:
        supplied = supplied[len(SIGNATURE_PREFIX) :]
    expected = compute_signature(app_id, raw_body, timestamp, oa_secret_key)[len(SIGNATURE_PREFIX) :]
    return hmac.compare_digest(supplied.lower().encode("utf-8"), expected.encode("utf-8"))
