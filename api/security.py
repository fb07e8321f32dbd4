"""Password hashing (argon2) and JWTs (PyJWT, algorithm pinned, exp/iss/aud required)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from adapters.passwords import hash_password, verify_password
from adapters.settings import Settings

__all__ = ["Principal", "decode_token", "hash_password", "issue_token", "verify_password"]

ALGORITHM = "HS256"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user id and a role (`customer` or `operator`)."""

    user_id: str
    role: str

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


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
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)


def decode_token(settings: Settings, token: str) -> Principal:
    """Raise `jwt.InvalidTokenError` for anything but a valid, current token of ours."""
    claims = jwt.decode(
        token,
        settings.jwt_secret.get_secret_value(),
        algorithms=[ALGORITHM],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        options={"require": ["exp", "iss", "aud", "sub"]},
    )
    role = claims.get("role")
    if role not in ("customer", "operator"):
        raise jwt.InvalidTokenError("unknown role")
    return Principal(user_id=str(claims["sub"]), role=role)
