"""Password hashing with argon2; verification costs the same whether the user exists or not."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("a password nobody has, to keep timing equal")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        matched = _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None


async def hash_password_async(password: str) -> str:
    """`hash_password` in a worker thread: argon2 takes tens of milliseconds of CPU (and
    releases the GIL), which on the event loop would stall every other request."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password: str, password_hash: str | None) -> bool:
    """`verify_password` in a worker thread, for the same reason."""
    return await asyncio.to_thread(verify_password, password, password_hash)
