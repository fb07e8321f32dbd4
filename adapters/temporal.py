"""The one place Temporal clients are built: address, namespace, TLS and data converter."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from adapters.codec import EncryptionCodec, codec_from_keys
from adapters.observability import CorrelationInterceptor
from adapters.settings import Settings
from adapters.tracing import temporal_interceptor


def payload_codec(settings: Settings) -> EncryptionCodec | None:
    """The AES-GCM codec when `PAYLOAD_ENCRYPTION_KEY` is set (older keys still decrypt;
    plaintext only with `PAYLOAD_ACCEPT_PLAINTEXT`)."""
    current = settings.payload_encryption_key
    older = settings.payload_decryption_keys
    return codec_from_keys(
        current.get_secret_value() if current else None,
        older.get_secret_value() if older else None,
        accept_plaintext=settings.payload_accept_plaintext,
    )


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic-aware payloads, encrypted when a key is set; every client and worker uses it.

    With encryption on, failure messages and stack traces move into an encoded attribute
    too, since they may quote the data (an address, an email) that failed.
    """
    codec = payload_codec(settings)
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def connect_failed(error: BaseException) -> bool:
    """The SDK could not reach the cluster at all (a connect, or a lazy client's first call
    while the cluster is down): its `RuntimeError("Failed client connect: ...")`."""
    return isinstance(error, RuntimeError) and str(error).startswith("Failed client connect")


async def connect(
    settings: Settings, *, runtime: Runtime | None = None, lazy: bool = False
) -> Client:
    """A client for the configured cluster (local dev server, self-hosted or Temporal Cloud).

    Workers built on this client inherit its interceptors: the request id's, and the
    tracing one when traces are on (`adapters.tracing`). A `lazy` client connects at its
    first call, and again at the next call after a failed one (the API's: it starts while
    Temporal is down); a worker needs a connected one.
    """
    interceptors: list[Interceptor] = [CorrelationInterceptor()]
    if tracing := temporal_interceptor():
        interceptors.insert(0, tracing)
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
        interceptors=interceptors,
        tls=tls or bool(api_key),
        api_key=api_key,
        runtime=runtime,
        lazy=lazy,
    )
