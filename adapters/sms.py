"""Outgoing SMS through an HTTP provider (`SMS_PROVIDER_URL`, bearer `SMS_PROVIDER_TOKEN`)."""

from __future__ import annotations

import httpx

from adapters.settings import Settings


class SmsRejected(Exception):
    """The provider refused the message for good (4xx other than 408 and 429)."""


class SmsGateway:
    """POSTs `{"to", "body"}`; the delivery key goes along as `Idempotency-Key`."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self._client = client
        self._url = settings.sms_provider_url
        token = settings.sms_provider_token
        self._headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}

    @property
    def configured(self) -> bool:
        return bool(self._url)

    async def send(self, to: str, body: str, idempotency_key: str) -> None:
        """Returns once the provider accepted the message; raises otherwise."""
        response = await self._client.post(
            self._url,
            json={"to": to, "body": body},
            headers={**self._headers, "Idempotency-Key": idempotency_key},
        )
        if response.is_client_error and response.status_code not in (408, 429):
            raise SmsRejected(
                f"SMS provider answered {response.status_code}: {response.text[:200]}"
            )
        response.raise_for_status()  # anything but 2xx: retried
