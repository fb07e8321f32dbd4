"""An email's MIME message (plain text and HTML alternatives), built without parsing what is
set on it.

`EmailMessage` parses every header it is given, and the ones `set_content` writes, into
structured objects, and flattening parses them again: about 0.7 ms of the 1 ms an email took
to build and flatten, the largest part of a send after the templates (docs/performance.md).
The `email.mime` classes keep each header as the string given, so the check that a value
cannot add a header or end the header block moves here: a value holding a control character
(CR, LF and NUL included) or a Unicode line or paragraph separator is refused
(`UnsafeHeader`). Non-ASCII text in a header is RFC 2047-encoded when the message is
flattened, and the bodies go quoted-printable, readable in the raw message.

An address that is not ASCII needs SMTPUTF8, which only an `EmailMessage` can be sent with
(aiosmtplib flattens it with the SMTPUTF8 policy when the server offers it): a message with
one is built as an `EmailMessage`, as every message was before.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from email.charset import QP, Charset
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

ADDRESS_HEADERS = ("From", "To")

_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # the default for UTF-8 is base64, unreadable in the raw message

_BREAKING = frozenset({"Cc", "Zl", "Zp"})
"""Unicode categories that may not appear in a header value: control characters (CR, LF,
NUL, DEL, NEL, ...) and the line and paragraph separators."""


class UnsafeHeader(ValueError):
    """A header value that could add a header or end the header block."""


def checked(name: str, value: str) -> str:
    """`value`, when it is safe as the value of header `name`."""
    if any(unicodedata.category(char) in _BREAKING for char in value):
        raise UnsafeHeader(f"the {name} header holds a line break or control character")
    return value


def compose(headers: Mapping[str, str], text: str, html: str) -> Message:
    """A multipart/alternative message with `headers` (in their order), `text` and `html`."""
    for name, value in headers.items():
        checked(name, value)
    if not all(headers.get(name, "").isascii() for name in ADDRESS_HEADERS):
        return _smtputf8(headers, text, html)
    message = MIMEMultipart("alternative")
    for name, value in headers.items():
        message[name] = value
    message.attach(MIMEText(text, "plain", _UTF8))  # type: ignore[arg-type]  # a Charset is taken
    message.attach(MIMEText(html, "html", _UTF8))  # type: ignore[arg-type]
    return message


def _smtputf8(headers: Mapping[str, str], text: str, html: str) -> EmailMessage:
    message = EmailMessage()
    for name, value in headers.items():
        message[name] = value
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message
