"""Outside the local stack a process refuses to start, naming every missing or weak secret
in one message; on the local stack (everything on loopback) the defaults stay usable."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from adapters import settings as settings_module
from adapters.secret_policy import InsecureSettings, refuse_insecure
from adapters.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KEY = base64.b64encode(b"k" * 32).decode()
SECURE: dict[str, Any] = {
    "stripe_webhook_secret": "whsec_from_the_stripe_dashboard",
    "jwt_secret": "j" * 32,
    "operator_password": "twelve chars",
    "payload_encryption_key": KEY,
}


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _refusal(**values: Any) -> str:
    with pytest.raises(InsecureSettings) as refused:
        refuse_insecure(_settings(**values))
    assert refused.value.code != 0
    return str(refused.value)


def test_the_local_stack_starts_on_its_defaults() -> None:
    refuse_insecure(_settings())
    refuse_insecure(_settings(database_url="postgresql://u:p@127.0.0.1:5432/engine"))


@pytest.mark.parametrize(
    "remote",
    [
        {"temporal_address": "my-ns.a1b2c.tmprl.cloud:7233"},
        {"stripe_api_base": "https://api.stripe.com"},
        {"database_url": "postgresql://u:p@db.example.com:5432/engine"},
        {"environment": "production"},
    ],
)
def test_one_remote_part_refuses_every_missing_secret_in_one_message(
    remote: dict[str, str],
) -> None:
    message = _refusal(**remote)
    for name in ("STRIPE_WEBHOOK_SECRET", "JWT_SECRET", "OPERATOR_PASSWORD"):
        assert f"{name} is not set" in message
    assert "PAYLOAD_ENCRYPTION_KEY is not set" in message
    assert "outside the local stack" in message


def test_weak_secrets_are_named() -> None:
    message = _refusal(
        **{
            **SECURE,
            "environment": "production",
            "jwt_secret": "j" * 31,
            "operator_password": "eleven char",
            "payload_encryption_key": base64.b64encode(b"short").decode(),
        }
    )
    assert "JWT_SECRET is shorter than 32 bytes" in message
    assert "OPERATOR_PASSWORD is shorter than 12 characters" in message
    assert "PAYLOAD_ENCRYPTION_KEY is invalid" in message
    assert "STRIPE_WEBHOOK_SECRET" not in message


def test_the_local_webhook_placeholder_counts_as_unset() -> None:
    message = _refusal(
        **{**SECURE, "environment": "production", "stripe_webhook_secret": "whsec_local"}
    )
    assert message.count("\n  - ") == 1
    assert "STRIPE_WEBHOOK_SECRET is not set" in message


def test_rs256_needs_no_jwt_secret_but_its_key_pair() -> None:
    rs256 = {k: v for k, v in SECURE.items() if k != "jwt_secret"}
    message = _refusal(**rs256, environment="production", jwt_algorithm="RS256")
    assert "JWT_SECRET" not in message
    assert "needs JWT_PRIVATE_KEY and JWT_PUBLIC_KEY" in message
    refuse_insecure(
        _settings(
            **rs256,
            environment="production",
            jwt_algorithm="RS256",
            jwt_private_key="/etc/engine/jwt.pem",
            jwt_public_key="/etc/engine/jwt.pub.pem",
        )
    )


def test_a_fully_configured_production_starts() -> None:
    refuse_insecure(_settings(**SECURE, environment="production"))


def test_loopback_webhooks_are_for_the_local_stack_only() -> None:
    with pytest.raises(InsecureSettings, match="WEBHOOK_ALLOW_LOOPBACK_HTTP"):
        refuse_insecure(
            _settings(**SECURE, environment="production", webhook_allow_loopback_http=True)
        )
    refuse_insecure(_settings(webhook_allow_loopback_http=True))  # make run turns it on


def test_entry_points_refuse_through_get_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "tests")  # no .env here
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal:7233")
    settings_module.get_settings.cache_clear()
    try:
        with pytest.raises(InsecureSettings, match="JWT_SECRET is not set"):
            settings_module.get_settings()
        for name, value in SECURE.items():
            monkeypatch.setenv(name.upper(), value)
        settings_module.get_settings.cache_clear()
        assert settings_module.get_settings().temporal_address == "temporal:7233"
    finally:
        settings_module.get_settings.cache_clear()


def test_the_kubernetes_dev_overlay_secrets_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    env = ROOT / "deploy/k8s/overlays/dev/dev-secrets.env"
    for line in env.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal-frontend.temporal:7233")
    refuse_insecure(Settings(_env_file=None))  # type: ignore[call-arg]
