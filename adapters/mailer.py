"""Outgoing email over SMTP (the local sink or any relay).

A session is kept for the next message rather than quit after each: a busy notifications
worker sends many messages a second, and each new session costs both ends a TCP handshake,
the greeting and EHLO (and, on a real relay, STARTTLS and AUTH). A session idle for
`REUSE_WITHIN` seconds is quit; one that failed in any way is closed, never reused; a
session sends at most `MESSAGES_PER_SESSION` messages (relays cap them too); concurrent sends
each take their own session, and at most `IDLE_SESSIONS` wait for the next message.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import Message

import aiosmtplib

from activities.notification_ports import EmailRejected
from adapters.settings import Settings

QUIT_TIMEOUT = 5.0
"""The message is delivered once DATA is accepted; a slow QUIT must not make it look lost."""

REUSE_WITHIN = 5.0
"""Seconds an idle session waits for the next message before it is quit: far inside any
relay's idle timeout (minutes), so a kept session is very unlikely to be closed under us."""

IDLE_SESSIONS = 8
MESSAGES_PER_SESSION = 100


@dataclass(eq=False)
class _Session:
    smtp: aiosmtplib.SMTP
    sent: int = 0
    expiry: asyncio.TimerHandle | None = None
    """While idle: the timer that quits it."""


class Mailer:
    """Sends one prepared message; raises on any SMTP failure so the caller can retry, and
    `EmailRejected` for a message that no retry can send.

    Implements activities.notification_ports.MailSender.
    """

    def __init__(self, settings: Settings, *, reuse_within: float = REUSE_WITHIN) -> None:
        self._settings = settings
        self._reuse_within = reuse_within
        self._hostname: str | None = None
        """What EHLO says: looked up once, not (in a thread) on every connection."""
        self._idle: list[_Session] = []
        """Sessions waiting for the next message, the most recently used last."""
        self._quitting: set[asyncio.Task[None]] = set()

    @property
    def sender(self) -> str:
        return self._settings.mail_from

    async def send(self, message: Message, accepted: Callable[[], Awaitable[None]]) -> None:
        """Send `message`; `accepted` runs the moment the server accepted its DATA.

        That moment, not the end of the session, is when the relay took responsibility for
        the message, so the caller records it there, before QUIT or anything else can fail.
        """
        session = await self._session()
        try:
            try:
                await session.smtp.send_message(message)
            except ValueError:  # aiosmtplib's check of the addresses, the same every time
                raise EmailRejected(
                    "an address of the message cannot be sent over SMTP (whitespace, a quote "
                    "or an angle bracket in it)"
                ) from None
            session.sent += 1
            await accepted()
        except BaseException:
            session.smtp.close()  # whatever state it is in, it is not reused
            raise
        self._put_back(session)

    async def _session(self) -> _Session:
        while self._idle:
            session = self._idle.pop()
            if session.expiry is not None:
                session.expiry.cancel()
            if session.smtp.is_connected:
                return session
            session.smtp.close()
        return _Session(await self._connect())

    async def _connect(self) -> aiosmtplib.SMTP:
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
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _put_back(self, session: _Session) -> None:
        """Keep the session for the next message, or quit it when it has sent its share or
        enough others wait."""
        if session.sent >= MESSAGES_PER_SESSION or len(self._idle) >= IDLE_SESSIONS:
            self._quit_later(session)
            return
        session.expiry = asyncio.get_running_loop().call_later(
            self._reuse_within, self._expire, session
        )
        self._idle.append(session)

    def _expire(self, session: _Session) -> None:
        """The session waited `reuse_within` without a message (taking it cancels this)."""
        self._idle.remove(session)
        self._quit_later(session)

    async def close(self) -> None:
        """Quit every kept session and wait for the quits under way (bounded by
        `QUIT_TIMEOUT`): a worker that stops leaves the relay no half-open session."""
        idle, self._idle = self._idle, []
        for session in idle:
            if session.expiry is not None:
                session.expiry.cancel()
            self._quit_later(session)
        if self._quitting:
            await asyncio.gather(*self._quitting, return_exceptions=True)

    def _quit_later(self, session: _Session) -> None:
        task = asyncio.ensure_future(_quit(session.smtp))
        self._quitting.add(task)  # a reference, so the task is not collected half-way
        task.add_done_callback(self._quitting.discard)


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    """QUIT politely, bounded; the socket is closed whatever the answer."""
    try:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await asyncio.wait_for(smtp.quit(), QUIT_TIMEOUT)
    finally:
        smtp.close()
