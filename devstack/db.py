"""`python -m devstack.db migrate|seed|reset`: database chores on DATABASE_URL or the
embedded PostgreSQL in the data folder (started for the chore if `make run` is not up)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable

from sqlalchemy import text

from adapters.db import create_engine
from adapters.settings import Settings
from devstack.localenv import read_env_file
from devstack.process import run_to_end
from devstack.services import Service, start_postgres

MIGRATE = ["alembic", "upgrade", "head"]
SEED = ["adapters.seed"]


def migrate_and_seed(
    env: dict[str, str], *, quiet: bool = False, announce: Callable[[str], None] | None = None
) -> None:
    """The schema at its head revision and the catalogue seeded, on env's DATABASE_URL;
    `announce` is told each step before it runs."""
    for name, step in (("migrations", MIGRATE), ("seed", SEED)):
        if announce is not None:
            announce(f"{name}: python -m {' '.join(step)}")
        run_to_end(name, step, env, quiet=quiet)


async def _drop_everything(settings: Settings) -> None:
    engine = create_engine(settings)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in {"migrate", "seed", "reset"}:
        print("usage: python -m devstack.db migrate|seed|reset", file=sys.stderr)
        return 2
    # The secrets make run generated (the operator's password among them) apply here too.
    for key, value in read_env_file(Settings().data_dir / "local.env").items():
        os.environ.setdefault(key, value)
    settings = Settings()
    ours: Service | None = None
    url = settings.database_url
    if not url:
        pgdata = settings.data_dir.resolve() / "postgres"
        already_up = (pgdata / "postmaster.pid").exists()
        server = start_postgres(pgdata)
        ours = None if already_up else server
        url = server.address
    try:
        if argv[0] == "reset":
            asyncio.run(_drop_everything(settings.model_copy(update={"database_url": url})))
            print("dropped every table")
        env = {**os.environ, "DATABASE_URL": url}
        if argv[0] in {"migrate", "reset"}:
            run_to_end("migrations", MIGRATE, env)
        if argv[0] in {"seed", "reset"}:
            run_to_end("seed", SEED, env)
    finally:
        if ours is not None:
            ours.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
