"""Which merchant webhook URLs the engine may POST to: the guard against server-side request
forgery (docs/webhooks.md, "Which URLs an endpoint may have").

A merchant's URL is a request the engine makes from inside its own network, so it must not
reach what only that network reaches: loopback, private ranges, link-local (the cloud
metadata service at 169.254.169.254), and every other special-purpose range. Only `https://`
to public addresses is accepted; `WEBHOOK_ALLOW_LOOPBACK_HTTP` (on in `make run`) also
accepts loopback, over `http://` too, for a receiver on the developer's machine.

`check_url` judges the text alone (no DNS), `resolve_target` also resolves the host and
refuses it when ANY of its addresses is refused; the sender then connects to one of those
checked addresses, never to a second DNS answer (which could differ: DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

MAX_URL_LENGTH = 2048
DNS_TIMEOUT_SECONDS = 10.0
DEFAULT_PORTS = {"https": 443, "http": 80}
LOOPBACK_NAME = "localhost"
PUBLIC_ONLY = "webhooks go only to public internet addresses"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""`(host, port)` → the host's addresses as text; raises `OSError` when it has none."""

_NETWORKS = [
    (ipaddress.ip_network(network), reason)
    for reason, networks in {
        "unspecified-address": ["0.0.0.0/8", "::/128"],
        "loopback-address": ["127.0.0.0/8", "::1/128"],
        "link-local-address": ["169.254.0.0/16", "fe80::/10"],
        "private-address": [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",  # carrier-grade NAT
            "fec0::/10",  # deprecated IPv6 site-local
        ],
        "unique-local-address": ["fc00::/7"],
        "multicast-address": ["224.0.0.0/4", "ff00::/8"],
    }.items()
    for network in networks
]
"""Ranges named in the refusal; any other address that is not global is `reserved-address`."""

_DESCRIPTIONS = {
    "unspecified-address": "the unspecified address",
    "loopback-address": "a loopback address (this server itself)",
    "link-local-address": "a link-local address (such as a cloud metadata service)",
    "private-address": "a private network address",
    "unique-local-address": "a unique local IPv6 address (a private network)",
    "multicast-address": "a multicast address",
    "reserved-address": "a reserved or special-purpose address",
}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*", re.IGNORECASE)
_HOST_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")


class UnsafeUrl(ValueError):
    """A webhook URL the engine refuses: `reason` is a stable slug, the message a merchant's."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """A checked URL and the addresses its host had when checked: connect to these only."""

    url: str
    host: str
    """Lower-case ASCII (IDNA), no trailing dot; an IP literal without brackets."""
    port: int
    addresses: tuple[Address, ...]

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def authority(self) -> str:
        """The `Host` header: host, and the port unless it is the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


@dataclass(frozen=True)
class _Parsed:
    scheme: str
    host: str
    port: int
    ip: Address | None


def check_url(url: str, *, allow_loopback_http: bool) -> None:
    """Refuses (`UnsafeUrl`) a URL that is malformed or names a refused address; no DNS."""
    _parse(url, allow_loopback_http=allow_loopback_http)


async def resolve_target(
    url: str, *, allow_loopback_http: bool, resolver: Resolver | None = None
) -> Target:
    """`check_url`, then the host's addresses, refused if any one of them is refused."""
    parsed = _parse(url, allow_loopback_http=allow_loopback_http)
    if parsed.ip is not None:
        return Target(url, parsed.host, parsed.port, (parsed.ip,))
    try:
        async with asyncio.timeout(DNS_TIMEOUT_SECONDS):
            answers = await (resolver or system_resolver)(parsed.host, parsed.port)
        addresses = tuple(dict.fromkeys(ipaddress.ip_address(answer) for answer in answers))
    except (OSError, TimeoutError, ValueError) as failed:
        raise UnsafeUrl("unresolvable", f"{parsed.host} could not be resolved") from failed
    if not addresses:
        raise UnsafeUrl("unresolvable", f"{parsed.host} could not be resolved")
    for address in addresses:
        _check_address(
            address, allow_loopback_http, shown=f"{parsed.host} resolves to {address}, which"
        )
        if parsed.scheme == "http" and not _is_loopback(address):
            raise UnsafeUrl("scheme", _HTTP_REFUSED)
    return Target(url, parsed.host, parsed.port, addresses)


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer (`getaddrinfo`), as the connection would get it."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


_HTTPS_ONLY = "webhook URLs must start with https://"
_HTTP_REFUSED = (
    "webhook URLs must start with https:// (http:// is accepted for a loopback address only,"
    " on a development stack)"
)


def _parse(url: str, *, allow_loopback_http: bool) -> _Parsed:
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl("malformed", f"the URL is longer than {MAX_URL_LENGTH} characters")
    invisible = next((char for char in url if _invisible(char)), None)
    if invisible is not None:
        code = f"U+{ord(invisible):04X}"
        raise UnsafeUrl("malformed", f"the URL contains a space or control character ({code})")
    if "\\" in url:
        raise UnsafeUrl("malformed", "the URL contains a backslash")
    try:
        parts = urlsplit(url)
    except ValueError as failed:
        raise UnsafeUrl("malformed", "the URL cannot be parsed") from failed
    if parts.scheme not in DEFAULT_PORTS:
        raise UnsafeUrl("scheme", _HTTPS_ONLY)
    if "@" in parts.netloc:
        raise UnsafeUrl("credentials", "the URL must not carry a user name or password")
    host, ip, port = _authority(parts.netloc, DEFAULT_PORTS[parts.scheme])
    loopback = host == LOOPBACK_NAME or (ip is not None and _is_loopback(ip))
    if parts.scheme == "http" and not (allow_loopback_http and loopback):
        raise UnsafeUrl("scheme", _HTTP_REFUSED if allow_loopback_http else _HTTPS_ONLY)
    if ip is not None:
        _check_address(ip, allow_loopback_http, shown=str(ip))
    elif host == LOOPBACK_NAME and not allow_loopback_http:
        raise UnsafeUrl("loopback-address", f"localhost is {_DESCRIPTIONS['loopback-address']}")
    return _Parsed(parts.scheme, host, port, ip)


def _invisible(char: str) -> bool:
    """Whitespace, control and format characters: never part of a URL a person can read."""
    return char.isspace() or unicodedata.category(char) in {"Cc", "Cf", "Cs", "Zl", "Zp", "Zs"}


def _authority(netloc: str, default_port: int) -> tuple[str, Address | None, int]:
    """`netloc` → (normalised host, its address if it is an IP literal, port)."""
    if not netloc:
        raise UnsafeUrl("host", "the URL has no host")
    if netloc.startswith("["):
        literal, bracket, port_text = netloc[1:].partition("]")
        if not bracket or "%" in literal:
            raise UnsafeUrl("malformed", "the URL's IPv6 address is malformed")
        try:
            ip: Address | None = ipaddress.IPv6Address(literal)
        except ValueError as failed:
            raise UnsafeUrl("malformed", "the URL's IPv6 address is malformed") from failed
        host = str(ip)
    else:
        host, colon, port = netloc.partition(":")
        port_text = colon + port
        host, ip = _host(host)
    return host, ip, _port(port_text, default_port)


def _host(text: str) -> tuple[str, Address | None]:
    if not text:
        raise UnsafeUrl("host", "the URL has no host")
    try:
        return text, ipaddress.IPv4Address(text)
    except ValueError:
        pass
    name = text.removesuffix(".").lower()
    if _NUMERIC_LABEL.fullmatch(name.rpartition(".")[2]):
        # 127.1, 0x7f.1, 2130706433, 127.000.000.001: resolvers read them as IPv4 addresses
        raise UnsafeUrl("malformed", "write an IPv4 address as four decimal numbers (a.b.c.d)")
    try:
        ascii_name = name if name.isascii() else idna.encode(name, uts46=True).decode()
    except idna.IDNAError as failed:
        raise UnsafeUrl("malformed", f"{text} is not a valid host name") from failed
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise UnsafeUrl("malformed", f"{text} is not a valid host name")
    return ascii_name, None


def _port(text: str, default: int) -> int:
    """`""` or `":"` → the default; `":<1-65535>"` in ASCII digits, else refused."""
    digits = text[1:]
    if not digits:
        return default
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 5) or not (
        0 < int(digits) <= 65535
    ):
        raise UnsafeUrl("port", "the port must be a number from 1 to 65535")
    return int(digits)


def _check_address(address: Address, allow_loopback: bool, *, shown: str) -> None:
    reason = _refusal(address, allow_loopback=allow_loopback)
    if reason is not None:
        raise UnsafeUrl(reason, f"{shown} is {_DESCRIPTIONS[reason]}; {PUBLIC_ONLY}")


def _is_loopback(address: Address) -> bool:
    return _refusal(address, allow_loopback=False) == "loopback-address"


def _refusal(address: Address, *, allow_loopback: bool) -> str | None:
    """Why `address` is refused (a reason slug), or None when a webhook may go there.

    An IPv6 address that carries an IPv4 one (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`,
    6to4 `2002::/16`) reaches that IPv4 address, so it is judged as that address.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return _refusal(embedded, allow_loopback=allow_loopback)
    for network, reason in _NETWORKS:
        if address in network:
            if reason == "loopback-address" and allow_loopback:
                return None
            return reason
    if not address.is_global:
        return "reserved-address"
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST_V6:
        return "reserved-address"  # Python counts e.g. ::/96 (IPv4-compatible) as global
    return None
