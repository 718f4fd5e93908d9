"""Callback target rules, by classifying addresses: no test here opens a connection."""

import pytest

from webhooks.targets import TargetRefused, classify_address, redact, resolve_target


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("10.0.0.8", "a private or reserved address"),
        ("172.16.5.4", "a private or reserved address"),
        ("192.168.1.1", "a private or reserved address"),
        ("100.64.0.1", "a private or reserved address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("169.254.10.10", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.251", "a multicast address"),
        ("ff0e::1", "a multicast address"),
        ("0.0.0.0", "an unspecified address"),
        ("fdaa:0:1::3", "a Fly.io private (6PN) address"),
        ("fd12:3456::1", "a unique-local IPv6 address"),
        ("240.0.0.1", "a private or reserved address"),
        ("64:ff9b::7f00:1", "an IPv6 transition address (NAT64/6to4/Teredo/IPv4-compatible)"),
        ("64:ff9b::a9fe:a9fe", "an IPv6 transition address (NAT64/6to4/Teredo/IPv4-compatible)"),
        ("2002:7f00:1::", "an IPv6 transition address (NAT64/6to4/Teredo/IPv4-compatible)"),
        ("::7f00:1", "an IPv6 transition address (NAT64/6to4/Teredo/IPv4-compatible)"),
        ("::ffff:0:7f00:1", "an IPv6 transition address (NAT64/6to4/Teredo/IPv4-compatible)"),
        ("2001:0:4136:e378::1", "an IPv6 transition address (NAT64/6to4/Teredo/IPv4-compatible)"),
    ],
)
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    assert classify_address(address) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert classify_address(address) is None


def fake_dns(answers: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    return resolve


def test_a_name_with_any_private_answer_is_refused_without_telling_the_address() -> None:
    resolver = fake_dns({"ehr.example.org": ["93.184.215.14", "10.0.0.5"]})
    with pytest.raises(TargetRefused) as refused:
        resolve_target("https://ehr.example.org/hook", allow_private=False, allow_http=False, resolver=resolver)
    # The message names the rule, never what an internal name resolved to (that would map internal DNS).
    assert refused.value.message == ("callback_url resolves to a private or reserved address; "
                                     "only public hosts can be called back")


def test_a_public_name_resolves_to_its_address() -> None:
    resolver = fake_dns({"ehr.example.org": ["93.184.215.14"]})
    assert resolve_target("https://ehr.example.org/h", False, False, resolver) == ["93.184.215.14"]


def test_allow_private_permits_loopback_but_never_metadata() -> None:
    resolver = fake_dns({"dev.local": ["127.0.0.1"], "meta.evil": ["169.254.169.254"]})
    assert resolve_target("http://dev.local:8080/h", True, True, resolver) == ["127.0.0.1"]
    with pytest.raises(TargetRefused, match="metadata"):
        resolve_target("http://meta.evil/h", True, True, resolver)


def test_plain_http_needs_the_setting() -> None:
    resolver = fake_dns({"ehr.example.org": ["93.184.215.14"]})
    with pytest.raises(TargetRefused, match="https"):
        resolve_target("http://ehr.example.org/h", False, False, resolver)
    assert resolve_target("http://ehr.example.org/h", False, True, resolver) == ["93.184.215.14"]


def test_an_unresolvable_name_is_refused() -> None:
    def nxdomain(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(TargetRefused, match="does not resolve"):
        resolve_target("https://nope.invalid/h", False, False, nxdomain)


def test_redaction_drops_query_fragment_and_credentials() -> None:
    assert redact("https://u:p@ehr.example.org:8443/hooks?token=abc#x") == "https://ehr.example.org:8443/hooks"


def test_international_names_are_resolved_and_sent_as_punycode() -> None:
    from webhooks.delivery import pinned_request

    seen: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        seen.append(host)
        return ["93.184.215.14"]

    assert resolve_target("https://bücher.example/h", False, False, resolver) == ["93.184.215.14"]
    assert seen == ["xn--bcher-kva.example"]
    assert pinned_request("https://bücher.example:8443/h?x=1", "93.184.215.14") == (
        "https://93.184.215.14:8443/h?x=1", "xn--bcher-kva.example:8443", "xn--bcher-kva.example")
    assert pinned_request("http://ehr.example.org/h", "2606:4700::1") == (
        "http://[2606:4700::1]/h", "ehr.example.org", None)


def test_ipv4_answers_come_first() -> None:
    from webhooks.dns import getaddrinfo_addresses

    # Literal addresses resolve locally, with no DNS query.
    assert getaddrinfo_addresses("::1", 80) == ["::1"]
    assert getaddrinfo_addresses("127.0.0.1", 80) == ["127.0.0.1"]
