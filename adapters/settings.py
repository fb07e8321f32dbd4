"""One `Settings` object, read from the environment (`.env.example` lists every variable)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from aiosmtplib.email import parse_address
from pydantic import AfterValidator, AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from activities.mime import checked
from adapters.secret_policy import refuse_insecure
from domain.policy import DEFAULTS


def _mail_address(value: str) -> str:
    """An address to send from or to, bare or as `Name <address>`: refused when a process
    starts, not on every email, when the message's header (`activities/mime.py`) or the SMTP
    command line (aiosmtplib's own check, the one the mailer meets) could not carry it."""
    try:
        checked("From", value)
        address = parse_address(value)
    except ValueError:
        address = ""
    if "@" not in address:
        raise ValueError(f"{value!r} is not an email address an SMTP server accepts")
    return value


MailAddress = Annotated[str, AfterValidator(_mail_address)]


class Settings(BaseSettings):
    """The engine's configuration; every field maps to an upper-case environment variable."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    """`production` enforces the secret checks even when every part is on loopback."""

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_url: str = ""
    """Where the API is reachable from outside (Stripe webhooks); defaults to http://host:port."""
    forwarded_allow_ips: str = "127.0.0.1"
    """Proxies trusted to set `X-Forwarded-For` (comma-separated addresses or CIDRs, `*` for
    any), as uvicorn's setting of the same name; the client address of anyone else is the
    socket's peer."""

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_api_key: SecretStr | None = None
    payload_encryption_key: SecretStr | None = None
    """Base64 of 32 bytes: encrypts every payload (AES-GCM) when set."""
    payload_decryption_keys: SecretStr | None = None
    """Comma-separated older keys, still accepted for decryption after a rotation."""
    payload_accept_plaintext: bool = False
    """Migration switch: with a key set, still decode unencrypted payloads (histories written
    before encryption was switched on). Off, workers refuse them, so nobody who reaches
    Temporal can hand a workflow a plaintext signal or update."""
    codec_trust_ui_origin: bool = False
    """Local only: the codec endpoint answers the UI's origin from loopback without a token."""

    # PostgreSQL; empty means "the embedded one make run starts"
    database_url: str = ""
    database_pool_size: int = 10

    # Stripe
    stripe_api_base: str = "http://127.0.0.1:8420"
    stripe_api_key: SecretStr = SecretStr("sk_test_local")
    stripe_webhook_secret: SecretStr = SecretStr("whsec_local")
    stripe_max_network_retries: int = 0
    """Temporal retries Stripe calls; the SDK's own retries stay off so each attempt is visible."""

    # Email
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: MailAddress = "Commerce Engine <orders@example.com>"

    # SMS and merchant webhooks (docs/orders.md, "Notifications"); empty URL: the channel is off
    sms_provider_url: str = ""
    """The provider's send endpoint: POST `{"to", "body"}` with `Authorization: Bearer`."""
    sms_provider_token: SecretStr | None = None
    merchant_webhook_url: str = ""
    """Receives every order event as signed JSON (`X-Signature: t=<unix>,v1=<hex>`)."""
    merchant_webhook_secret: SecretStr | None = None
    """HMAC-SHA256 key of the webhook signature; required when the URL is set."""
    webhook_allow_loopback_http: bool = False
    """On in `make run`: webhook endpoints may also be loopback addresses, over `http://` too,
    for a receiver on the developer's machine. Off, only `https://` to public addresses
    (docs/webhooks.md, "Which URLs an endpoint may have")."""

    # Auth
    jwt_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    """HS256 key, at least 32 bytes, the same on every API replica (tokens and cursors).
    Unset, each process makes one up: accepted on the local stack only."""
    jwt_issuer: str = "commerce-engine"
    jwt_audience: str = "commerce-engine-api"
    jwt_ttl_seconds: int = 3600
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    """Pinned: tokens signed any other way are refused. RS256 needs the key pair below."""
    jwt_private_key: SecretStr | None = None
    """RS256: the PEM (or the path of a PEM file) that signs tokens."""
    jwt_public_key: str | None = None
    """RS256: the PEM (or the path of a PEM file) that verifies tokens."""
    operator_email: MailAddress = "operator@example.com"
    operator_password: SecretStr | None = None
    """At least 12 characters; unset, the local stack generates and prints one."""

    # HTTP edge: rate limits (`<n>/<second|minute|hour>`), body size, CORS, security headers
    rate_limit_login: str = "5/minute;20/hour;100/day"
    """Failed logins per account (email), in tiers: each exhausted tier refuses logins for
    the account until its window ends, so the wait grows with the failures (a backoff).
    A successful login is never counted."""
    rate_limit_login_address: str = "20/minute;100/hour;500/day"
    """Failed logins per client address (see `FORWARDED_ALLOW_IPS`), tiered likewise."""
    rate_limit_register: str = "10/minute"
    """POST /v1/auth/register, per client IP and per email."""
    rate_limit_orders: str = "30/minute"
    """POST /v1/orders, per user."""
    redis_url: str = ""
    """`redis://host:6379/0` shares the rate limits between API replicas; empty: in process."""
    metrics_token: SecretStr | None = None
    """When set, `GET /metrics` needs `Authorization: Bearer <token>`; unset: open."""
    metrics_refresh_seconds: float = 30.0
    """The API's order gauges are recounted at most this often, however often it is scraped."""
    max_body_bytes: int = 1_048_576
    cors_origins: list[str] = []
    """Browser origins allowed to call the API, as a JSON list: `["https://shop.example"]`."""
    content_security_policy: str = "default-src 'none'; frame-ancestors 'none'"
    docs_content_security_policy: str = (
        "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
        "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https:; "
        "worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
    )
    """The CSP of /docs and /redoc, whose pages load Swagger UI and ReDoc from a CDN."""
    hsts_seconds: int = 0
    """Strict-Transport-Security max-age; set it when the API is served over HTTPS only."""

    # Order process: timers and thresholds (docs/orders.md, "Statuses")
    review_threshold: int = DEFAULTS.review_threshold
    review_timeout: timedelta = DEFAULTS.review_timeout
    payment_action_timeout: timedelta = DEFAULTS.payment_action_timeout
    fulfillment_timeout: timedelta = DEFAULTS.fulfillment_timeout
    delivery_timeout: timedelta = DEFAULTS.delivery_timeout
    return_window: timedelta = Field(
        default=DEFAULTS.refund_window,
        validation_alias=AliasChoices("return_window", "refund_window"),
    )
    """How long after delivery an order takes returns and refunds; `REFUND_WINDOW`, its
    former name, is still read when `RETURN_WINDOW` is not set."""
    return_receive_timeout: timedelta = DEFAULTS.return_receive_timeout
    """A return whose parcel has not been received by then expires."""

    # Workers
    stripe_rate_per_second: float = 25.0
    reconciliation_interval: timedelta = timedelta(days=1)
    idempotency_key_ttl: timedelta = timedelta(hours=24)
    """`Idempotency-Key`s older than this are deleted by a Temporal Schedule."""
    idempotency_cleanup_interval: timedelta = timedelta(hours=1)
    webhook_delivery_retention: timedelta = Field(default=timedelta(days=30), ge=timedelta(days=7))
    """Finished merchant webhook deliveries (sent or failed) untouched for this long are
    deleted, with their attempts, by a daily Temporal Schedule. At least 7 days: a delivery
    is retried for a day and its log is what an operator reads when a merchant asks."""
    worker_versioning: bool = True
    """Workers run as versions of the Temporal worker deployment `worker_deployment_name`
    (orders finish on the version they started on, docs/architecture.md); off, they poll
    unversioned, as before versioning."""
    worker_deployment_name: str = "commerce-engine"
    worker_build_id: str = ""
    """The version a worker runs (docs/runbook.md, "A safe deploy"); empty: the package
    version plus `IMAGE_TAG`, or else the checkout's git sha (`workers.versioning`)."""
    image_tag: str = ""
    """The image's tag, set in containers (deploy/Dockerfile), for the default build id."""
    worker_graceful_shutdown: timedelta = timedelta(seconds=20)
    """On SIGTERM, how long in-flight activities may run before they are cancelled."""
    orders_max_concurrent_activities: int = 100
    payments_max_concurrent_activities: int = 50
    notifications_max_concurrent_activities: int = 100
    worker_max_concurrent_workflow_tasks: int = 100
    worker_max_pollers: int = 5
    """Upper bound of the autoscaling pollers, for workflow and activity tasks alike."""
    orders_nonsticky_poll_ratio: float = Field(default=0.6, gt=0, le=1)
    """Share of a worker's workflow task pollers that poll the queue itself, where every new
    workflow's first task waits (a new order); the rest poll the worker's own sticky queue,
    for the workflows it has cached (an order's commands, reports and timers). The SDK's 0.2
    left one poller of five for new orders, and under load a `POST /v1/orders` waited for
    it (docs/performance.md, "New workflows wait for a poller")."""
    payments_nonsticky_poll_ratio: float = Field(default=0.6, gt=0, le=1)
    notifications_nonsticky_poll_ratio: float = Field(default=0.8, gt=0, le=1)
    """Higher: nearly every notification runs in its first workflow task."""
    worker_max_cached_workflows: int = Field(default=500, ge=0)
    """Workflows each worker process keeps in memory between tasks (the sticky cache, 0.3 to
    0.4 MiB per open order on the orders queue); fewer bound its memory, at the price of
    replaying an evicted order's history when it wakes (docs/runbook.md, "Scale a queue").
    500, half the SDK's default: the orders worker with 10,000 open orders then stays under
    512 MiB (measured to 1,200 and extrapolated, docs/performance.md)."""
    orders_metrics_port: int = 0
    payments_metrics_port: int = 0
    notifications_metrics_port: int = 0
    """Each worker's /metrics and /healthz port; 0 turns the endpoint off."""
    attention_after_failures: int = Field(default=5, ge=1)
    """A step failing this many attempts in a row is flagged `NeedsAttention` (docs/runbook.md)."""

    # Traces (OpenTelemetry); empty endpoint: off
    otel_exporter_otlp_endpoint: str = ""
    """The OTLP/HTTP collector's base URL (`http://collector:4318`); spans go to /v1/traces."""
    otel_service_name: str = ""
    """The service name on spans; empty: the process's own (`api`, `worker-orders`, ...)."""

    # Local stack and logs
    data_dir: Path = Path(".data")
    log_level: str = "INFO"
    log_format: str = "auto"
    """`json`, `console`, or `auto` (console on a terminal, JSON otherwise)."""

    @property
    def api_url(self) -> str:
        return self.public_url or f"http://{self.api_host}:{self.api_port}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once; every entry point (API, workers) starts here,
    so outside the local stack missing or weak secrets stop it (`adapters.secret_policy`)."""
    settings = Settings()
    refuse_insecure(settings)
    return settings
