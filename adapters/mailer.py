"""Outgoing email over SMTP (the local sink or any relay)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from email.message import EmailMessage

import aiosmtplib

from adapters.settings import Settings

QUIT_TIMEOUT = 5.0
"""The message is delivered once DATA is accepted; a slow QUIT must not make it look lost."""


class Mailer:
    """Sends one prepared message; raises on any SMTP failure so the caller can retry."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._hostname: str | None = None
        """What EHLO says: looked up once, not (in a thread) on every connection."""

    @property
    def sender(self) -> str:
        return self._settings.mail_from

    async def send(self, message: EmailMessage, accepted: Callable[[], Awaitable[None]]) -> None:
        """Send `message`; `accepted` runs the moment the server accepted its DATA.

        That moment, not the end of the session, is when the relay took responsibility for
        the message, so the caller records it there, before QUIT or anything else can fail.
        """
        s = self._settings
        if self._hostname is None:
            self._hostname = await asyncio.to_thread(socket.getfqdn)
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            local_hostname=self._hostname,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            start_tls=s.smtp_starttls,
            timeout=20,
        )
        try:
            await smtp.connect()
            await smtp.send_message(message)
            await accepted()
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await asyncio.wait_for(smtp.quit(), QUIT_TIMEOUT)
        finally:
            smtp.close()
