"""Outgoing email over SMTP (the local sink or any relay)."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from adapters.settings import Settings


class Mailer:
    """Sends one prepared message; raises on any SMTP failure so the caller can retry."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def sender(self) -> str:
        return self._settings.mail_from

    async def send(self, message: EmailMessage) -> None:
        s = self._settings
        await aiosmtplib.send(
            message,
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls,
            timeout=20,
        )
