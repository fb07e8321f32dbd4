"""The SSRF guard: which webhook URLs and addresses the engine may POST to."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import pytest

from adapters.webhook_urls import Target, UnsafeUrl, check_url, resolve_target


def refusal(url: str, *, allow_loopback_http: bool = False) -> str:
    with pytest.raises(UnsafeUrl) as refused:
        check_url(url, allow_loopback_http=allow_loopback_http)
    return refused.value.reason


class Answering:
    """A resolver that answers `addresses` for any host, and records what it was asked."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append((host, port))
        return self.addresses


async def resolved_refusal(url: str, *addresses: str, allow_loopback_http: bool = False) -> str:
    with pytest.raises(UnsafeUrl) as refused:
        await resolve_target(
            url,
            allow_loopback_http=allow_loopback_http,
            resolver=Answering(*addresses),
        )
    return refused.value.reason


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/orders",
        "https://hooks.example.com:8443/orders?shop=1#top",
        "https://8.8.8.8/hook",
        "https://[2606:4700::1111]/hook",
        "https://bücher.example/hook",
        "https://hooks.example.com./hook",
        "HTTPS://Hooks.Example.COM/",
    ],
)
def test_https_to_a_public_host_is_accepted(url: str) -> None:
    check_url(url, allow_loopback_http=False)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.1.2.3", "private-address"),
        ("172.16.0.1", "private-address"),
        ("172.31.255.254", "private-address"),
        ("192.168.1.1", "private-address"),
        ("100.64.0.1", "private-address"),
        ("169.254.169.254", "link-local-address"),
        ("0.0.0.0", "unspecified-address"),
        ("127.0.0.1", "loopback-address"),
        ("127.8.9.10", "loopback-address"),
        ("224.0.0.1", "multicast-address"),
        ("255.255.255.255", "reserved-address"),
        ("192.0.2.10", "reserved-address"),
        ("198.18.0.1", "reserved-address"),
        ("240.0.0.1", "reserved-address"),
        ("[::1]", "loopback-address"),
        ("[::]", "unspecified-address"),
        ("[fe80::1]", "link-local-address"),
        ("[fc00::1]", "unique-local-address"),
        ("[fd12:3456::1]", "unique-local-address"),
        ("[fec0::1]", "private-address"),
        ("[ff02::1]", "multicast-address"),
        ("[2001:db8::1]", "reserved-address"),
        ("[::7f00:1]", "reserved-address"),
        ("[::ffff:127.0.0.1]", "loopback-address"),
        ("[::ffff:169.254.169.254]", "link-local-address"),
        ("[::ffff:10.0.0.1]", "private-address"),
        ("[64:ff9b::a00:1]", "private-address"),
        ("[2002:a9fe:a9fe::]", "link-local-address"),
        ("[2002:7f00:1::]", "loopback-address"),
    ],
)
def test_an_ip_literal_outside_the_public_internet_is_refused_with_its_kind(
    address: str, reason: str
) -> None:
    assert refusal(f"https://{address}/hook") == reason


def test_ipv6_forms_of_a_public_ipv4_address_are_accepted() -> None:
    check_url("https://[::ffff:8.8.8.8]/hook", allow_loopback_http=False)
    check_url("https://[64:ff9b::808:808]/hook", allow_loopback_http=False)
    check_url("https://[2002:808:808::1]/hook", allow_loopback_http=False)


def test_the_refusal_message_names_the_address_and_says_what_is_allowed() -> None:
    with pytest.raises(UnsafeUrl, match=r"169\.254\.169\.254 is a link-local address .*public"):
        check_url("https://169.254.169.254/latest/meta-data", allow_loopback_http=False)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/", "scheme"),
        ("http://127.0.0.1:8080/", "scheme"),
        ("ftp://hooks.example.com/", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://127.0.0.1:6379/", "scheme"),
        ("hooks.example.com/orders", "scheme"),
        ("https://localhost/hook", "loopback-address"),
        ("https://LOCALHOST:9000/hook", "loopback-address"),
    ],
)
def test_without_the_flag_only_https_to_public_hosts_passes(url: str, reason: str) -> None:
    assert refusal(url) == reason


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://127.3.2.1/hook",
        "http://[::1]:8080/hook",
        "http://localhost:8080/hook",
        "https://localhost:8443/hook",
        "https://127.0.0.1/hook",
        "https://hooks.example.com/hook",
    ],
)
def test_the_flag_admits_loopback_over_http_and_https(url: str) -> None:
    check_url(url, allow_loopback_http=True)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/", "scheme"),
        ("http://8.8.8.8/", "scheme"),
        ("http://10.0.0.1/", "scheme"),
        ("http://[fe80::1]/", "scheme"),
        ("https://10.0.0.1/", "private-address"),
        ("https://169.254.169.254/", "link-local-address"),
    ],
)
def test_the_flag_admits_nothing_but_loopback(url: str, reason: str) -> None:
    assert refusal(url, allow_loopback_http=True) == reason


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://user:pass@hooks.example.com/", "credentials"),
        ("https://user@hooks.example.com/", "credentials"),
        ("https://hooks.example.com@127.0.0.1/", "credentials"),
        ("https:///hook", "host"),
        ("https://", "host"),
        ("https://:443/hook", "host"),
        ("https://hooks.example.com:0/", "port"),
        ("https://hooks.example.com:65536/", "port"),
        ("https://hooks.example.com:+443/", "port"),
        ("https://hooks.example.com:٤٤٣/", "port"),
        ("https://hooks.example.com:80:80/", "port"),
        ("https://hooks.example.com/a b", "malformed"),
        ("https://hooks.example.com/\x00", "malformed"),
        ("https://hooks.exam\x00ple.com/", "malformed"),
        ("https://hooks.example.com/\r\nX-Injected: 1", "malformed"),
        ("https://hooks.example.com/\t", "malformed"),
        ("https://hooks.example.com/\x7f", "malformed"),
        ("https://hooks.example.com/\u200b", "malformed"),
        ("https://hooks.example.com/\u00a0", "malformed"),
        (" https://hooks.example.com/", "malformed"),
        ("https://hooks.example.com\\@127.0.0.1/", "malformed"),
        ("https://127.1/", "malformed"),
        ("https://2130706433/", "malformed"),
        ("https://0x7f.0.0.1/", "malformed"),
        ("https://127.000.000.001/", "malformed"),
        ("https://%31%32%37.0.0.1/", "malformed"),
        ("https://hooks..example.com/", "malformed"),
        ("https://-hooks.example.com/", "malformed"),
        ("https://hooks.exa$mple.com/", "malformed"),
        ("https://[::1/", "malformed"),
        ("https://[127.0.0.1]/", "malformed"),
        ("https://[fe80::1%25eth0]/", "malformed"),
        ("https://hooks.example.com/" + "a" * 2048, "malformed"),
    ],
)
def test_malformed_urls_are_refused_with_their_reason(url: str, reason: str) -> None:
    assert refusal(url) == reason


def test_a_control_character_is_named_in_the_message() -> None:
    with pytest.raises(UnsafeUrl, match="U\\+0000"):
        check_url("https://hooks.example.com/\x00", allow_loopback_http=False)


def test_a_url_of_exactly_the_maximum_length_passes() -> None:
    base = "https://hooks.example.com/"
    check_url(base + "a" * (2048 - len(base)), allow_loopback_http=False)


async def test_a_public_host_resolves_to_a_target_with_every_address() -> None:
    resolver = Answering("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "93.184.216.34")

    target = await resolve_target(
        "https://Hooks.Example.com:8443/orders",
        allow_loopback_http=False,
        resolver=resolver,
    )

    assert resolver.asked == [("hooks.example.com", 8443)]
    assert target == Target(
        url="https://Hooks.Example.com:8443/orders",
        host="hooks.example.com",
        port=8443,
        addresses=(
            ipaddress.ip_address("93.184.216.34"),
            ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"),
        ),
    )
    assert (target.scheme, target.authority) == ("https", "hooks.example.com:8443")


async def test_a_host_is_resolved_by_its_ascii_idna_name_on_the_default_port() -> None:
    resolver = Answering("93.184.216.34")

    target = await resolve_target(
        "https://bücher.example/hook",
        allow_loopback_http=False,
        resolver=resolver,
    )

    assert resolver.asked == [("xn--bcher-kva.example", 443)]
    assert target.authority == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("addresses", "reason"),
    [
        (["10.0.0.7"], "private-address"),
        (["93.184.216.34", "10.0.0.7"], "private-address"),
        (["93.184.216.34", "169.254.169.254"], "link-local-address"),
        (["2606:4700::1111", "fd00::1"], "unique-local-address"),
        (["2606:4700::1111", "fe80::1%2"], "link-local-address"),
        (["93.184.216.34", "127.0.0.1"], "loopback-address"),
        (["::1"], "loopback-address"),
        (["0.0.0.0"], "unspecified-address"),
        (["::ffff:192.168.0.1"], "private-address"),
        (["93.184.216.34", "224.1.1.1"], "multicast-address"),
        ([], "unresolvable"),
        (["not-an-address"], "unresolvable"),
    ],
)
async def test_one_refused_address_among_good_ones_refuses_the_host(
    addresses: list[str], reason: str
) -> None:
    assert await resolved_refusal("https://hooks.example.com/", *addresses) == reason


async def test_a_resolved_address_is_named_with_its_host() -> None:
    said = r"hooks\.example\.com resolves to 10\.0\.0\.7, which is a private network address"
    with pytest.raises(UnsafeUrl, match=said):
        await resolve_target(
            "https://hooks.example.com/",
            allow_loopback_http=False,
            resolver=Answering("93.184.216.34", "10.0.0.7"),
        )


async def test_a_name_that_resolves_to_loopback_passes_only_with_the_flag() -> None:
    url = "https://hooks.example.test:8443/"
    assert await resolved_refusal(url, "127.0.0.1") == "loopback-address"

    resolver = Answering("127.0.0.1", "::1")
    target = await resolve_target(url, allow_loopback_http=True, resolver=resolver)

    assert target.addresses == (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


async def test_http_to_localhost_is_refused_when_it_resolves_off_loopback() -> None:
    url = "http://localhost:8080/hook"
    assert await resolved_refusal(url, "93.184.216.34", allow_loopback_http=True) == "scheme"


async def test_an_ip_literal_is_not_resolved() -> None:
    resolver = Answering("10.0.0.1")

    url = "https://[2606:4700::1111]:8443/hook"
    target = await resolve_target(url, allow_loopback_http=False, resolver=resolver)

    assert resolver.asked == []
    assert target.addresses == (ipaddress.ip_address("2606:4700::1111"),)
    assert target.authority == "[2606:4700::1111]:8443"


async def test_a_host_without_addresses_is_unresolvable() -> None:
    async def nothing(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    said = r"hooks\.example\.invalid could not be resolved"
    with pytest.raises(UnsafeUrl, match=said) as refused:
        await resolve_target(
            "https://hooks.example.invalid/", allow_loopback_http=False, resolver=nothing
        )

    assert refused.value.reason == "unresolvable"


async def test_the_system_resolver_answers_localhost_with_loopback_only() -> None:
    target = await resolve_target("http://localhost:8080/hook", allow_loopback_http=True)

    assert target.addresses
    assert all(address.is_loopback for address in target.addresses)
    assert await resolved_refusal("https://localhost/", "127.0.0.1") == "loopback-address"
