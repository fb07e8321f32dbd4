"""Apps of their own for tests that need other settings than the session's (rate limits,
CORS, RS256), on the same real servers; `client` sets the caller's address."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from adapters.settings import Settings
from api.main import create_app


def random_ip() -> str:
    return "10." + ".".join(str(random.randint(1, 254)) for _ in range(3))


@asynccontextmanager
async def app_client(
    settings: Settings,
    *,
    client: str = "127.0.0.1",
    extend: Callable[[FastAPI], None] | None = None,
    **overrides: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update=overrides))
    if extend is not None:
        extend(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client, 40000), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            yield http


class Relay:
    """A TCP server relaying bytes to `upstream`, a (host, port) or a unix socket's path, and
    back: started on the port an app was given, it is that server coming back for an app
    that started while it was away. `close` ends the relayed connections too."""

    def __init__(self, upstream: tuple[str, int] | str) -> None:
        self._upstream = upstream
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._open:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if isinstance(self._upstream, str):
            far_reader, far_writer = await asyncio.open_unix_connection(self._upstream)
        else:
            far_reader, far_writer = await asyncio.open_connection(*self._upstream)
        self._open |= {writer, far_writer}
        await asyncio.gather(self._pipe(reader, far_writer), self._pipe(far_reader, writer))

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except ConnectionError:
            pass
        finally:
            sink.close()
            self._open.discard(sink)
