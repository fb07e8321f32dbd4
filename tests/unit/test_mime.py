"""activities/mime.py: whatever text reaches a header, the receiver reads exactly the headers
the message was given, each with its value; the bodies arrive as written."""

from __future__ import annotations

import unicodedata
from email import message_from_bytes, policy
from email.message import EmailMessage, Message

import pytest
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message
from hypothesis import example, given, settings
from hypothesis import strategies as st

from activities.mime import UnsafeHeader, compose

SENDER = "Shop <shop@example.com>"
RECIPIENT = "customer@example.com"
EXPECTED = {"content-type", "mime-version", "from", "to", "subject", "message-id", "x-delivery-key"}
# every character, lone surrogates aside (a template renders none; `str.encode` refuses them)
NOT_SURROGATES = st.characters(exclude_categories=["Cs"])
ANY_TEXT = st.text(NOT_SURROGATES, max_size=200)


def headers(
    subject: str, to: str = RECIPIENT, key: str = "ord_1/order_confirmed/email/1"
) -> dict[str, str]:
    return {
        "From": SENDER,
        "To": to,
        "Subject": subject,
        "Message-ID": "<ord_1.order_confirmed.email@example.com>",
        "X-Delivery-Key": key,
    }


def received(message: Message) -> EmailMessage:
    """Flattened as the mailer sends it (aiosmtplib: SMTPUTF8 for a non-ASCII address),
    parsed as a receiver would."""
    addresses = [extract_sender(message) or "", *extract_recipients(message)]
    utf8 = not "".join(addresses).isascii()
    parsed = message_from_bytes(flatten_message(message, utf8=utf8), policy=policy.SMTPUTF8)
    assert isinstance(parsed, EmailMessage)
    return parsed


def breaks_lines(text: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in text)


@settings(max_examples=400, deadline=None)
@given(subject=ANY_TEXT)
@example("Order 1\r\nBcc: victim@example.com")
@example("Order 1\nBcc: victim@example.com")
@example("Order 1\rBcc: victim@example.com")
@example("Order 1\x00Bcc: victim@example.com")
@example("Order 1\u2028Bcc: victim@example.com")
@example("Order 1\x85Bcc: victim@example.com")
@example("Order 1\n\nbody injected")
@example("=?utf-8?q?Bcc=3A_x?= \u00e9 " + "long " * 30)
def test_a_subject_either_arrives_as_written_or_is_refused(subject: str) -> None:
    if breaks_lines(subject):
        with pytest.raises(UnsafeHeader):
            compose(headers(subject), "text", "<p>html</p>")
        return
    message = received(compose(headers(subject), "text", "<p>html</p>"))

    assert {name.lower() for name in message.keys()} == EXPECTED
    assert len(message.keys()) == len(EXPECTED)  # no header twice
    # a receiver strips the whitespace around a value; in between it arrives as written
    # (an encoded word in the text arrives encoded, as the sender's ASCII text)
    arrived = str(message["Subject"])
    assert arrived.strip(" \t") == subject.strip(" \t") or "=?" in subject
    assert message["To"].addresses[0].addr_spec == RECIPIENT
    assert message.get_body(("plain",)).get_content() == "text"  # type: ignore[union-attr]


@settings(max_examples=200, deadline=None)
@given(value=ANY_TEXT, name=st.sampled_from(["From", "To", "Message-ID", "X-Delivery-Key"]))
def test_no_header_takes_a_line_break_or_control_character(name: str, value: str) -> None:
    given_headers = headers("Order 1") | {name: f"a{value}b"}
    if breaks_lines(value):
        with pytest.raises(UnsafeHeader):
            compose(given_headers, "text", "<p>html</p>")
        return
    message = received(compose(given_headers, "text", "<p>html</p>"))
    assert {key.lower() for key in message.keys()} == EXPECTED
    assert len(message.keys()) == len(EXPECTED)


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r")))
def test_the_bodies_arrive_as_written(text: str) -> None:
    """Any text without CR; a CR, alone or before LF, travels as a line break and arrives
    as LF (SMTP lines end in CRLF), which the next test shows."""
    html = f"<p>{text}</p>"
    message = received(compose(headers("Order 1"), text, html))

    plain = message.get_body(("plain",))
    rich = message.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content() == text
    assert rich.get_content() == html


@pytest.mark.parametrize(
    "to", ["j\u00f6rg@example.com", "J\u00f6rg Jensen <jorg@example.com>", "ada@exampl\u00e9.com"]
)
def test_a_non_ascii_address_goes_as_an_smtputf8_message(to: str) -> None:
    message = compose(headers("Order 1", to=to), "text", "<p>html</p>")

    assert isinstance(message, EmailMessage)  # aiosmtplib sends it with SMTPUTF8
    parsed = received(message)
    assert str(parsed["To"]) == to
    assert {name.lower() for name in parsed.keys()} == EXPECTED


def test_an_ascii_message_is_built_without_parsing_its_headers() -> None:
    message = compose(headers("Order 1"), "text", "<p>html</p>")

    assert not isinstance(message, EmailMessage)  # the cheap `email.mime` build
    raw = flatten_message(message).decode()
    assert "Content-Transfer-Encoding: quoted-printable" in raw  # readable, not base64


def test_a_carriage_return_in_a_body_arrives_as_a_line_break() -> None:
    for text in ("a\rb", "a\r\nb", "a\nb"):
        message = received(compose(headers("Order 1"), text, "<p>html</p>"))
        assert message.get_body(("plain",)).get_content() == "a\nb"  # type: ignore[union-attr]
