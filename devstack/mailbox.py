"""Read what the SMTP sink stored: the messages in a mail folder, oldest first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path


def read_mailbox(mail_dir: Path) -> list[EmailMessage]:
    """Every stored message, oldest first; an absent folder is an empty mailbox."""
    return [message for _, message in stored_mail(mail_dir)]


def stored_mail(mail_dir: Path) -> list[tuple[float, EmailMessage]]:
    """Every stored message with when the sink stored it (Unix time), oldest first."""
    if not mail_dir.is_dir():
        return []
    parser = BytesParser(policy=default)
    return [
        (path.stat().st_mtime, parser.parsebytes(path.read_bytes()))
        for path in sorted(mail_dir.glob("[!.]*.eml"))
    ]


async def wait_for_mail(
    mail_dir: Path,
    predicate: Callable[[EmailMessage], bool],
    timeout: float = 10.0,  # noqa: ASYNC109 - a deadline reads better here than a wrapper
) -> EmailMessage:
    """The oldest message matching `predicate`, polling until `timeout` seconds have passed.

    Asynchronous so a test can wait while workers in the same event loop send the mail.
    """
    deadline = time.monotonic() + timeout
    while True:
        for message in read_mailbox(mail_dir):
            if predicate(message):
                return message
        if time.monotonic() > deadline:
            count = len(read_mailbox(mail_dir))
            raise TimeoutError(f"no matching mail in {mail_dir} after {timeout}s ({count} stored)")
        await asyncio.sleep(0.1)
