"""Agent passwords: hashlib.scrypt with a random per-user salt, constant-time comparison."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from core.settings import env_int

# OWASP Password Storage Cheat Sheet (scrypt): N=2^17, r=8, p=1 -> 128 MiB and ~0.3-0.5 s per hash
# on one core of a small server. HANDOFF_SCRYPT_N lowers it for tests only (never in production).
N, R, P, DKLEN = 2**17, 8, 1, 32
N = env_int("HANDOFF_SCRYPT_N", N)  # read at import, as before: the keyword defaults below take it
MIN_LENGTH = 10


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    """``scrypt$n$r$p$<salt>$<hash>`` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=DKLEN, maxmem=128 * r * n * p * 2)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """True if ``password`` matches ``stored``. With ``stored`` None, still spends the time of a hash."""
    if not stored:
        hash_password(password or "x")  # same cost for unknown users: no user enumeration by timing
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        n_, r_, p_ = int(n), int(r), int(p)
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=n_,
            r=r_,
            p=p_,
            dklen=len(expected),
            maxmem=128 * r_ * n_ * p_ * 2,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str | None) -> bool:
    """True if ``stored`` was made with a lower cost than today's (rehash it at the next login)."""
    try:
        scheme, n, r, p, _salt, _digest = (stored or "").split("$")
        return scheme == "scrypt" and (int(n), int(r), int(p)) < (N, R, P)
    except ValueError:
        return False


def check_new_password(password: str, username: str = "") -> str | None:
    """Why ``password`` is not acceptable for a new account, or None."""
    if len(password) < MIN_LENGTH:
        return f"mật khẩu cần ít nhất {MIN_LENGTH} ký tự"
    if username and username.lower() in password.lower():
        return "mật khẩu không được chứa tên đăng nhập"
    return None
