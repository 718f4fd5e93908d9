"""Which callback targets EndoScribe may call: http(s) URLs that resolve only to public addresses.

Checked at submit and again before every attempt (DNS rebinding): the deliverer then connects to
the very address it checked, never to a fresh lookup.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import SplitResult, urlsplit, urlunsplit

from core.errors import ErrorCode, Unprocessable
from webhooks.dns import LookupsBusy, Resolver, system_resolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata services: refused even when private targets are allowed for development.
METADATA_NETWORKS = [
    ipaddress.ip_network("169.254.169.254/32"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_network("169.254.170.2/32"),  # AWS ECS task metadata
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS IMDS over IPv6
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud
]
# Named for the error message; the `is_global` test below already refuses them.
PRIVATE_HINTS = {
    ipaddress.ip_network("fdaa::/16"): "a Fly.io private (6PN) address",
    ipaddress.ip_network("fc00::/7"): "a unique-local IPv6 address",
}
# IPv6 forms that carry an IPv4 address a gateway may translate to (NAT64, 6to4, Teredo, SIIT,
# IPv4-compatible): 64:ff9b::7f00:1 can reach 127.0.0.1. No webhook receiver needs them.
TRANSITION_NETWORKS = [
    ipaddress.ip_network(net)
    for net in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32", "::/96", "::ffff:0:0:0/96")
]


class TargetRefused(Unprocessable):
    """The target breaks the rules: final."""

    code = ErrorCode.CALLBACK_URL_REFUSED


class ResolutionFailed(TargetRefused):
    """The name did not resolve (now): refused at submit, retried at delivery."""


class LookupsPending(ResolutionFailed):
    """The key's share of lookups is taken by earlier ones still unanswered: not looked up now."""

    code = ErrorCode.CALLBACK_LOOKUPS_BUSY


def classify_address(address: str) -> str | None:
    """Why calling this address is refused, or None when it is a public unicast address."""
    ip: IPAddress = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in METADATA_NETWORKS):
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if any(ip in net for net in TRANSITION_NETWORKS):
        return "an IPv6 transition address (NAT64/6to4/Teredo/IPv4-compatible)"
    for net, name in PRIVATE_HINTS.items():
        if ip in net:
            return name
    if ip.is_private or not ip.is_global:
        return "a private or reserved address"
    return None




def ascii_host(host: str) -> str:
    """The host name as sent on the wire (IDNA/punycode for international names)."""
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise TargetRefused(f"callback_url host {host!r} is not a valid domain name") from None


def parse_callback_url(url: str, allow_http: bool) -> SplitResult:
    """Syntax checks only: scheme, host, no credentials."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"callback_url is malformed: {exc}") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise TargetRefused("callback_url must be an absolute http(s) URL, e.g. https://ehr.example.org/hooks")
    if parts.scheme == "http" and not allow_http:
        raise TargetRefused("callback_url must use https (plain http is disabled on this server)")
    if parts.username or parts.password:
        raise TargetRefused("callback_url must not carry credentials; use callback_auth_header_name/value")
    if port == 0:
        raise TargetRefused("callback_url has port 0")
    return parts


def resolve_target(
    url: str, allow_private: bool, allow_http: bool, resolver: Resolver = system_resolver
) -> list[str]:
    """Resolve the URL's host and return its addresses, all permitted; raise TargetRefused otherwise.

    Every address the name resolves to must pass, so a name that mixes public and private
    answers cannot be used to reach the private one.
    """
    parts = parse_callback_url(url, allow_http)
    host = ascii_host(parts.hostname or "")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolver(host, port)
    except LookupsBusy as exc:
        raise LookupsPending(f"callback_url host {host!r} was not looked up: {exc}") from None
    except (OSError, UnicodeError):
        raise ResolutionFailed(f"callback_url host {host!r} does not resolve") from None
    if not addresses:
        raise ResolutionFailed(f"callback_url host {host!r} does not resolve")
    for address in addresses:
        reason = classify_address(address)
        if reason is None:
            continue
        if allow_private and reason != "a cloud metadata address":
            continue
        raise TargetRefused(f"callback_url resolves to {reason}; only public hosts can be called back")
    return addresses


def redact(url: str) -> str:
    """The URL without query string or fragment (they often carry tokens), for display and logs."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
