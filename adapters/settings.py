"""One `Settings` object, read from the environment (`.env.example` lists every variable)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SEARCH_ATTRIBUTES = {
    "OrderStatus": "Keyword",
    "CustomerId": "Keyword",
    "OrderTotal": "Int",
    "PaymentStatus": "Keyword",
}
"""Custom search attributes the Temporal namespace must have (SPEC §6)."""


class Settings(BaseSettings):
    """The engine's configuration; every field maps to an upper-case environment variable."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_url: str = ""
    """Where the API is reachable from outside (Stripe webhooks); defaults to http://host:port."""

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_api_key: SecretStr | None = None
    payload_encryption_key: SecretStr | None = None

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
    mail_from: str = "Commerce Engine <orders@example.com>"

    # Auth
    jwt_secret: SecretStr = Field(default_factory=lambda: SecretStr(secrets.token_urlsafe(32)))
    jwt_issuer: str = "commerce-engine"
    jwt_audience: str = "commerce-engine-api"
    jwt_ttl_seconds: int = 3600
    operator_email: str = "operator@example.com"
    operator_password: SecretStr | None = None

    # Order process (SPEC §4.1)
    review_threshold: int = 100_000
    review_timeout: timedelta = timedelta(hours=24)
    payment_action_timeout: timedelta = timedelta(minutes=30)
    fulfillment_timeout: timedelta = timedelta(days=6)
    delivery_timeout: timedelta = timedelta(days=30)

    # Workers
    stripe_rate_per_second: float = 25.0

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
    """The process-wide settings, read once."""
    return Settings()
