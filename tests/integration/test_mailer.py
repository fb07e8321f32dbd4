"""The mailer against a real SMTP server (aiosmtpd, in process): sessions are kept for the
next message, and never reused after a failure."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.mime.text import MIMEText
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from activities.notification_ports import EmailRejected
from adapters.mailer import IDLE_SESSIONS, Mailer
from adapters.settings import Settings
from devstack.process import free_port


@dataclass
class Relay:
    """Records which session carried each message and how many sessions said QUIT."""

    sessions: list[int] = field(default_factory=list)
    quits: int = 0
    refuse: int = 0
    """The next `refuse` messages are refused with a 451."""
    pause: float = 0.0
    quit_seen: threading.Condition = field(default_factory=threading.Condition)
    """Notified on each QUIT (the relay runs in its own thread)."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.pause)
        if self.refuse:
            self.refuse -= 1
            return "451 try again later"
        self.sessions.append(id(session))
        return "250 OK"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.quit_seen:
            self.quits += 1
            self.quit_seen.notify_all()
        return "221 Bye"

    async def quits_reach(self, count: int, patience: float = 10.0) -> int:
        """The QUITs seen once they reach `count`, or when `patience` runs out: sessions
        are quit in the background, so a test waits for them rather than a set time."""

        def wait() -> int:
            with self.quit_seen:
                self.quit_seen.wait_for(lambda: self.quits >= count, patience)
                return self.quits

        return await asyncio.to_thread(wait)


@pytest.fixture
async def relay() -> AsyncIterator[tuple[Relay, int]]:
    handler, port = Relay(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def mailer(port: int, **options: Any) -> Mailer:
    settings = Settings(_env_file=None, smtp_port=port)  # type: ignore[call-arg]
    return Mailer(settings, **options)


def message(n: int) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "shop@example.com", "c@example.com", f"#{n}"
    mail.set_content("hello")
    return mail


async def nothing() -> None:
    return None


async def test_messages_one_after_another_share_a_session(relay: tuple[Relay, int]) -> None:
    handler, port = relay
    sender = mailer(port)

    for n in range(3):
        await sender.send(message(n), nothing)

    assert len(handler.sessions) == 3 and len(set(handler.sessions)) == 1
    assert handler.quits == 0, "kept for the next message"


async def test_closing_quits_every_kept_session_at_once(relay: tuple[Relay, int]) -> None:
    handler, port = relay
    handler.pause = 0.2
    sender = mailer(port)  # sessions kept for REUSE_WITHIN, 5 s
    await asyncio.gather(*(sender.send(message(n), nothing) for n in range(3)))
    assert handler.quits == 0

    await sender.close()

    assert handler.quits == 3, "quit before close returned, not after the idle time"
    await sender.send(message(4), nothing)  # a closed mailer still sends: a new session
    assert len(set(handler.sessions)) == 4


async def test_an_idle_session_is_quit_and_the_next_message_opens_another(
    relay: tuple[Relay, int],
) -> None:
    handler, port = relay
    sender = mailer(port, reuse_within=0.2)

    await sender.send(message(1), nothing)
    quits_while_idle = await handler.quits_reach(1)
    await sender.send(message(2), nothing)

    assert quits_while_idle == 1
    assert len(set(handler.sessions)) == 2


async def test_a_refused_message_closes_its_session(relay: tuple[Relay, int]) -> None:
    handler, port = relay
    sender = mailer(port)
    await sender.send(message(1), nothing)
    handler.refuse = 1
    accepted: list[int] = []

    async def record() -> None:
        accepted.append(2)

    with pytest.raises(Exception, match="try again later"):
        await sender.send(message(2), record)
    await sender.send(message(3), nothing)

    assert accepted == []
    first, third = handler.sessions
    assert first != third, "the session that failed is not reused"


async def test_concurrent_messages_each_take_a_session_and_a_few_are_kept(
    relay: tuple[Relay, int],
) -> None:
    handler, port = relay
    handler.pause = 0.2
    sender = mailer(port)
    count = IDLE_SESSIONS + 4

    await asyncio.gather(*(sender.send(message(n), nothing) for n in range(count)))

    assert len(set(handler.sessions)) == count
    assert await handler.quits_reach(count - IDLE_SESSIONS) == count - IDLE_SESSIONS


async def test_a_session_the_server_closed_is_replaced_without_a_failure() -> None:
    """The relay restarting while a session waits: the next message opens a new one."""
    handler, port = Relay(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    sender = mailer(port)
    await sender.send(message(1), nothing)
    controller.stop()
    await asyncio.sleep(0.3)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await sender.send(message(2), nothing)
    finally:
        controller.stop()

    assert len(set(handler.sessions)) == 2


@pytest.mark.parametrize("to", ["grace hopper@example.com", "Grace <grace hopper@example.com>"])
async def test_an_address_smtp_cannot_carry_is_rejected_for_good_and_nothing_is_sent(
    relay: tuple[Relay, int], to: str
) -> None:
    """Refused before the message goes out, as `EmailRejected` (no retry can send it), not
    as the plain ValueError aiosmtplib raises, which the delivery retried for its window."""
    handler, port = relay
    sender = mailer(port)
    accepted: list[str] = []

    async def record() -> None:
        accepted.append(to)

    mail = MIMEText("hello")  # keeps the header as given, as the engine's messages do
    mail["From"], mail["To"], mail["Subject"] = "shop@example.com", to, "#1"

    with pytest.raises(EmailRejected, match="cannot be sent over SMTP"):
        await sender.send(mail, record)
    await sender.send(message(2), nothing)

    assert accepted == []
    assert len(handler.sessions) == 1, "only the second message went out"
