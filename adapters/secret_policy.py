"""Which secrets a deployment must set: outside the local stack, a process refuses to start
with one message naming every secret that is missing or too weak (docs/runbook.md, "Secrets").

The local stack is every part on loopback (Temporal, Stripe, PostgreSQL or the embedded one)
and `ENVIRONMENT` not `production`; there the local defaults stay convenient (`make run`
generates its own secrets in `.data/local.env`).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from adapters.codec import CodecKeyError, parse_key

if TYPE_CHECKING:
    from adapters.settings import Settings

MIN_JWT_SECRET_BYTES = 32
"""HS256 keys shorter than the hash output can be brute-forced from one token (RFC 7518 §3.2)."""
MIN_OPERATOR_PASSWORD = 12


class InsecureSettings(SystemExit):
    """Refuses to start: the message lists every missing or weak secret (exit status 1)."""


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def remote_parts(settings: Settings) -> list[str]:
    """The settings that place this process outside the local stack (empty: local)."""
    remote = []
    if settings.environment == "production":
        remote.append("ENVIRONMENT=production")
    temporal_host = urlsplit(f"//{settings.temporal_address}").hostname
    if not _loopback(temporal_host):
        remote.append(f"TEMPORAL_ADDRESS={settings.temporal_address}")
    stripe_host = urlsplit(settings.stripe_api_base).hostname
    if not _loopback(stripe_host):
        remote.append(f"STRIPE_API_BASE={settings.stripe_api_base}")
    if settings.database_url:
        url = make_url(settings.database_url.replace("postgres://", "postgresql://", 1))
        if url.host and not _loopback(url.host):  # no host: a local Unix socket
            remote.append(f"DATABASE_URL host {url.host}")
    return remote


def _unset(settings: Settings, field: str) -> bool:
    return field not in settings.model_fields_set


def weaknesses(settings: Settings) -> list[str]:
    """Every missing or weak secret, one line each, whatever the stack."""
    found = []
    webhook = settings.stripe_webhook_secret.get_secret_value()
    default_webhook = type(settings).model_fields["stripe_webhook_secret"].default
    if webhook == default_webhook.get_secret_value() or not webhook:
        found.append(
            "STRIPE_WEBHOOK_SECRET is not set (anyone could sign webhooks with the local "
            "placeholder)"
        )
    if settings.jwt_algorithm == "HS256":
        if _unset(settings, "jwt_secret"):
            found.append(
                "JWT_SECRET is not set (each process would make up its own: replicas would "
                "refuse each other's tokens and cursors)"
            )
        elif len(settings.jwt_secret.get_secret_value().encode()) < MIN_JWT_SECRET_BYTES:
            found.append(f"JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes")
    elif settings.jwt_private_key is None or not settings.jwt_public_key:
        found.append("JWT_ALGORITHM=RS256 needs JWT_PRIVATE_KEY and JWT_PUBLIC_KEY")
    password = settings.operator_password
    if password is None:
        found.append("OPERATOR_PASSWORD is not set")
    elif len(password.get_secret_value()) < MIN_OPERATOR_PASSWORD:
        found.append(f"OPERATOR_PASSWORD is shorter than {MIN_OPERATOR_PASSWORD} characters")
    key = settings.payload_encryption_key
    if key is None or not key.get_secret_value():
        found.append(
            "PAYLOAD_ENCRYPTION_KEY is not set (Temporal would store addresses and emails readable)"
        )
    else:
        try:
            parse_key(key.get_secret_value())
        except CodecKeyError as error:
            found.append(f"PAYLOAD_ENCRYPTION_KEY is invalid: {error}")
    if settings.webhook_allow_loopback_http:
        found.append(
            "WEBHOOK_ALLOW_LOOPBACK_HTTP is on (a merchant webhook endpoint could reach this "
            "host's own services; it is for make run)"
        )
    return found


def refuse_insecure(settings: Settings) -> None:
    """Raise `InsecureSettings` outside the local stack when any secret is missing or weak."""
    remote = remote_parts(settings)
    found = weaknesses(settings) if remote else []
    if found:
        lines = "\n".join(f"  - {line}" for line in found)
        raise InsecureSettings(
            f"refusing to start outside the local stack ({', '.join(remote)}) with missing or "
            f"weak secrets:\n{lines}\nSet them in the environment or .env (.env.example lists "
            "them; docs/runbook.md explains each)."
        )
