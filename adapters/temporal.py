"""The one place Temporal clients are built: address, namespace, TLS and data converter."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.service import TLSConfig

from adapters.settings import Settings

ORDERS_QUEUE = "orders"
PAYMENTS_QUEUE = "payments"
NOTIFICATIONS_QUEUE = "notifications"


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic-aware payloads; every client and worker uses this one converter."""
    del settings  # the encryption codec (PAYLOAD_ENCRYPTION_KEY) plugs in here
    return pydantic_data_converter


async def connect(settings: Settings) -> Client:
    """A client for the configured cluster (local dev server, self-hosted or Temporal Cloud)."""
    tls: TLSConfig | bool = False
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        tls=tls or bool(api_key),
        api_key=api_key,
    )
