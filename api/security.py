"""Password hashing (argon2) and JWTs (PyJWT): the algorithm is pinned by the settings
(HS256 with `JWT_SECRET`, or RS256 with `JWT_PRIVATE_KEY`/`JWT_PUBLIC_KEY`) and `exp`,
`iss`, `aud` and `sub` are required, so `alg: none` or an HS256 token signed with the RS256
public key is refused."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jwt

from adapters.passwords import hash_password, verify_password
from adapters.settings import Settings

__all__ = [
    "Principal",
    "check_keys",
    "decode_token",
    "hash_password",
    "issue_token",
    "verify_password",
]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user id and a role (`customer` or `operator`)."""

    user_id: str
    role: str

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


@lru_cache(maxsize=8)
def _pem(value: str) -> str:
    """A PEM given inline, or read from the file it names."""
    if value.lstrip().startswith("-----BEGIN"):
        return value
    return Path(value).expanduser().read_text()


def _signing_key(settings: Settings) -> str:
    if settings.jwt_algorithm == "HS256":
        return settings.jwt_secret.get_secret_value()
    if settings.jwt_private_key is None:
        raise ValueError("JWT_ALGORITHM=RS256 needs JWT_PRIVATE_KEY")
    return _pem(settings.jwt_private_key.get_secret_value())


def _verification_key(settings: Settings) -> str:
    if settings.jwt_algorithm == "HS256":
        return settings.jwt_secret.get_secret_value()
    if not settings.jwt_public_key:
        raise ValueError("JWT_ALGORITHM=RS256 needs JWT_PUBLIC_KEY")
    return _pem(settings.jwt_public_key)


def check_keys(settings: Settings) -> None:
    """Fail at startup, not on the first login, when the key pair is missing or mismatched."""
    token = issue_token(settings, "usr_startup_check", "customer")
    decode_token(settings, token)


def issue_token(settings: Settings, user_id: str, role: str) -> str:
    now = int(time.time())
    claims = {
        "sub": user_id,
        "role": role,
        "iat": now,
        "exp": now + settings.jwt_ttl_seconds,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    return jwt.encode(claims, _signing_key(settings), algorithm=settings.jwt_algorithm)


def decode_token(settings: Settings, token: str) -> Principal:
    """Raise `jwt.InvalidTokenError` for anything but a valid, current token of ours."""
    claims = jwt.decode(
        token,
        _verification_key(settings),
        algorithms=[settings.jwt_algorithm],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        options={"require": ["exp", "iss", "aud", "sub"]},
    )
    role = claims.get("role")
    if role not in ("customer", "operator"):
        raise jwt.InvalidTokenError("unknown role")
    return Principal(user_id=str(claims["sub"]), role=role)
