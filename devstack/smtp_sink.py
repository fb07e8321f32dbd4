"""An SMTP server that accepts every message and keeps it as one `.eml` file.

Run as `python -m devstack.smtp_sink --port 1025 --mail-dir .data/mail`. Files are named
`<arrival ns>-<seq>.eml`, so sorting names sorts by arrival, and each appears by an atomic
rename, so a reader never sees half a message. The envelope is kept in `X-Envelope-From`
and `X-Envelope-To` headers because Bcc recipients are visible nowhere else.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("smtp_sink")


class MailDirHandler:
    """aiosmtpd handler writing each accepted message to `mail_dir`."""

    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir
        self._sequence = itertools.count()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        headers = (
            f"X-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        name = f"{time.time_ns():020d}-{next(self._sequence):06d}.eml"
        partial = self.mail_dir / f".{name}.tmp"
        partial.write_bytes(headers + content)
        os.replace(partial, self.mail_dir / name)
        log.info("stored %s from=%s to=%s", name, envelope.mail_from, ",".join(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def serve(port: int, mail_dir: Path, host: str = "127.0.0.1") -> None:
    """Serve until SIGTERM or SIGINT, then stop accepting and return."""
    mail_dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(
        MailDirHandler(mail_dir), hostname=host, port=port, enable_SMTPUTF8=True
    )
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    controller.start()
    log.info("listening on %s:%d, storing mail in %s", host, port, mail_dir)
    try:
        stopping.wait()
    finally:
        controller.stop()
        log.info("stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--mail-dir", type=Path, default=Path(".data/mail"))
    args: Any = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    serve(args.port, args.mail_dir, args.host)


if __name__ == "__main__":
    main()
