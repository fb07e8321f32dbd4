"""argon2 hashing and verification run in a thread: the event loop keeps serving meanwhile."""

from __future__ import annotations

import asyncio

from adapters.passwords import hash_password, hash_password_async, verify_password_async

HASHED = hash_password("correct horse battery staple")


async def _ticks_during(work: asyncio.Future[object]) -> int:
    ticks = 0
    while not work.done():
        await asyncio.sleep(0.001)
        ticks += 1
    return ticks


async def test_verification_leaves_the_event_loop_free() -> None:
    work = asyncio.ensure_future(verify_password_async("correct horse battery staple", HASHED))
    assert await _ticks_during(work) >= 3
    assert await work is True
    assert await verify_password_async("wrong", HASHED) is False
    assert await verify_password_async("wrong", None) is False


async def test_hashing_leaves_the_event_loop_free() -> None:
    work = asyncio.ensure_future(hash_password_async("another long password"))
    assert await _ticks_during(work) >= 3
    assert await verify_password_async("another long password", str(await work))
