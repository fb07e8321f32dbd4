"""`make run`: start what is not configured externally, then the engine, and stop it all cleanly.

Every process is one we started and know by pid; they stop in reverse start order on Ctrl-C or
SIGTERM (exit 0), or when any of them dies on its own (exit 1, said loudly). Set
`DEVSTACK_SKIP_APP=1` to start only the real parts, e.g. to run the engine from an IDE.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import NoReturn
from urllib.parse import urlsplit

from adapters.settings import Settings
from devstack import services
from devstack.apps import APPS, say, start_app
from devstack.banner import Where, full_banner, services_banner
from devstack.db import migrate_and_seed
from devstack.localenv import generated_values
from devstack.process import LOOPBACK_HOSTS, Service, ServiceError
from devstack.ready import answers, is_listening, wait_ready

READY_TIMEOUT = 120.0


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: stop everything, successfully."""


class ChildDied(Exception):
    """A process we started exited while it should be running."""


def run() -> int:
    """Run the stack until interrupted; the process exit code."""
    settings = Settings()
    started: list[Service] = []
    _stopping.clear()
    _on_signals(_interrupt)
    try:
        _run(settings, started)
    except Interrupted:
        say("devstack", "stopping (signal received)")
        return 0
    except ChildDied as died:
        say("devstack", f"!!! {died} - stopping everything !!!")
        return 1
    except ServiceError as failed:
        say("devstack", f"!!! start-up failed: {failed}")
        return 1
    finally:
        _stopping.set()  # from here on a signal only says so (see _interrupt)
        _stop_all(started)


def _run(settings: Settings, started: list[Service]) -> NoReturn:
    """Start everything, then watch it; ends only by an exception."""
    data_dir = settings.data_dir.resolve()
    logs = data_dir / "logs"
    secrets = generated_values(data_dir / "local.env", settings)
    env = {**os.environ, **secrets, "DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    if "webhook_allow_loopback_http" not in settings.model_fields_set:
        env["WEBHOOK_ALLOW_LOOPBACK_HTTP"] = "true"  # a webhook receiver on this machine
    if not settings.worker_build_id:
        # one version whatever the checkout: orders placed before a restart on other code
        # go on (make replay checks they can), not pinned to a build nothing runs any more
        env["WORKER_BUILD_ID"] = "local"
    if sys.stdout.isatty() and "LOG_FORMAT" not in os.environ:
        env["LOG_FORMAT"] = "console"  # children write to a pipe, which `auto` takes for JSON
    where, localstripe = _start_services(settings, data_dir, logs, started, env)
    where = Where(**{**where.__dict__, "operator_password": secrets.get("OPERATOR_PASSWORD")})

    if os.environ.get("DEVSTACK_SKIP_APP"):
        print(services_banner(where) + "\n  (DEVSTACK_SKIP_APP: engine not started)\n", flush=True)
        _watch(started)

    migrate_and_seed(env, announce=lambda line: say("devstack", line))
    for name in APPS:
        started.append(start_app(name, env=env, log_file=logs / f"{name}.log", labelled=True))
    url = f"{_local_api_url(settings)}/readyz"
    wait_ready(
        f"the API at {url}", answers(url), timeout=READY_TIMEOUT, watch=started, log_of=started[-1]
    )
    if localstripe:
        webhook = f"{settings.api_url}/v1/webhooks/stripe"
        services.register_stripe_webhook(
            where.stripe_api_base, "devstack", webhook, env["STRIPE_WEBHOOK_SECRET"]
        )
        say("devstack", f"localstripe delivers its events to {webhook}")
    print(full_banner(where), flush=True)
    _watch(started)


def _start_services(
    settings: Settings, data_dir: Path, logs: Path, started: list[Service], env: dict[str, str]
) -> tuple[Where, bool]:
    """Start each real part unless configured elsewhere; put the addresses into `env`."""
    temporal_address, temporal_ui = settings.temporal_address, settings.temporal_ui_url
    host, _, port = temporal_address.rpartition(":")
    if host in LOOPBACK_HOSTS and not is_listening(host, int(port)):
        ui_port = urlsplit(temporal_ui).port or 8233
        say("devstack", f"starting Temporal on {temporal_address} (data in temporal.db)")
        temporal = services.start_temporal(
            port=int(port),
            ui_port=ui_port,
            db_file=data_dir / "temporal.db",
            log_file=logs / "temporal.log",
            ui_codec_endpoint=f"{_local_api_url(settings)}/codec",
        )
        started.append(temporal)
        # the dev UI cannot send an operator's token: let it decode from loopback
        env.setdefault("CODEC_TRUST_UI_ORIGIN", "true")
        temporal_address, temporal_ui = temporal.address, f"http://127.0.0.1:{ui_port}"

    database_url = settings.database_url
    if not database_url:
        say("devstack", "starting the embedded PostgreSQL (data in postgres/)")
        postgres = services.start_postgres(data_dir / "postgres")
        started.append(postgres)
        database_url = postgres.address

    stripe_base = settings.stripe_api_base.rstrip("/")
    stripe = urlsplit(stripe_base)
    ours = stripe.hostname in LOOPBACK_HOSTS and not is_listening(
        stripe.hostname or "", stripe.port or 80
    )
    if ours:
        say("devstack", f"starting localstripe on {stripe_base}")
        started.append(
            services.start_localstripe(port=stripe.port or 80, log_file=logs / "localstripe.log")
        )

    mail_dir = data_dir / "mail"
    if settings.smtp_host in LOOPBACK_HOSTS and not is_listening(
        settings.smtp_host, settings.smtp_port
    ):
        say("devstack", f"starting the SMTP sink on {settings.smtp_host}:{settings.smtp_port}")
        started.append(
            services.start_smtp_sink(
                port=settings.smtp_port, mail_dir=mail_dir, log_file=logs / "smtp.log"
            )
        )

    env.update(
        TEMPORAL_ADDRESS=temporal_address,
        TEMPORAL_UI_URL=temporal_ui,
        DATABASE_URL=database_url,
        STRIPE_API_BASE=stripe_base,
        SMTP_HOST=settings.smtp_host,
        SMTP_PORT=str(settings.smtp_port),
    )
    where = Where(
        api_url=settings.api_url,
        temporal_address=temporal_address,
        temporal_ui_url=temporal_ui,
        database_url=database_url,
        stripe_api_base=stripe_base,
        smtp=f"{settings.smtp_host}:{settings.smtp_port}",
        mail_dir=mail_dir,
        logs_dir=logs,
        operator_email=settings.operator_email,
        operator_password=None,
    )
    return where, ours


def _local_api_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.api_host in {"0.0.0.0", "::", ""} else settings.api_host
    return f"http://{host}:{settings.api_port}"


def _watch(started: list[Service]) -> NoReturn:
    """Sleep until a signal interrupts us or a child dies."""
    while True:
        for service in started:
            if not service.running():
                raise ChildDied(
                    f"{service.name} (pid {service.pid}) exited unexpectedly, "
                    f"code {service.returncode}"
                )
        time.sleep(0.5)


def _stop_all(started: list[Service]) -> None:
    for service in reversed(started):
        say("devstack", f"stopping {service.name} (pid {service.pid})")
        try:
            service.stop(grace=10)
        except Exception as error:  # keep stopping the others
            say("devstack", f"could not stop {service.name}: {error!r}")
    started.clear()


def _on_signals(handler: signal._HANDLER) -> None:
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


_stopping = threading.Event()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """The first signal interrupts whatever runs; later ones must not interrupt the stop.

    They come in pairs: Ctrl-C signals the whole foreground group and make then passes the
    signal on to its child, so a second one used to land inside the clean-up and leave
    every service running."""
    if _stopping.is_set():
        say("devstack", "already stopping, please wait")
        return
    _stopping.set()
    raise Interrupted
