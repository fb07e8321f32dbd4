"""Outgoing SMS through an HTTP provider (`SMS_PROVIDER_URL`, bearer `SMS_PROVIDER_TOKEN`)."""

from __future__ import annotations

import httpx

from activities.notification_ports import SmsRejected
from adapters.settings import Settings


class SmsGateway:
    """POSTs `{"to", "body"}`; the delivery key goes along as `Idempotency-Key`.

    Implements activities.notification_ports.SmsSender; raises SmsRejected for a refusal.
    """

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
