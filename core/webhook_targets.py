"""Where the hub may send a webhook: not into its own network.

A webhook URL is chosen by a client, and the hub POSTs to it from inside its network, so
an unchecked URL would let any key holder reach the database, the A1111 servers or a
cloud metadata service. The host is resolved and *every* address it resolves to must be
public (not loopback, private, link-local, shared, reserved, multicast, unspecified, or
an IPv6 tunnel to IPv4: 6to4, Teredo, NAT64),
unless ``HUB_WEBHOOK_ALLOW_PRIVATE=1``. Checked when the URL is given and again before
each delivery (DNS can change meanwhile).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

SETTING = "HUB_WEBHOOK_ALLOW_PRIVATE"


# IPv6 ranges that tunnel to an IPv4 address a relay chooses (6to4, Teredo) or embed
# one (NAT64's well-known prefix): Python calls some of them global, yet a packet to them
# can reach the hub's own network through a relay. None is a webhook target.
TUNNELS = {
    "6to4": ipaddress.ip_network("2002::/16"),
    "Teredo": ipaddress.ip_network("2001::/32"),
    "NAT64": ipaddress.ip_network("64:ff9b::/96"),
    "local NAT64": ipaddress.ip_network("64:ff9b:1::/48"),
}


def _address_rule(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    if address.version == 6:
        for name, network in TUNNELS.items():
            if address in network:
                return f"{name} tunnel"
    for rule, broken in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved or not address.is_global),
    ):
        if broken:
            return rule
    return None


def refusal(url: str) -> str | None:
    """Why the hub will not POST to ``url``, in words naming the rule; None if it may."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "it is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it must be an http:// or https:// URL with a host"
    if parts.username or parts.password:
        return "it must not carry a user name or password"
    if getattr(settings, SETTING, False):
        return None
    host = parts.hostname
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return f"its host {host!r} does not resolve"
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        rule = _address_rule(address)
        if rule:
            return (
                f"its host {host!r} resolves to {address}, a {rule} address: webhooks go "
                f"to public addresses only, so the hub cannot be used to reach its own "
                f"network (set {SETTING}=1 to allow private targets on a trusted network)"
            )
    return None


def validate_webhook_target(value: str) -> None:
    """A model/serializer validator: blank passes, a refused URL raises."""
    if not value:
        return
    reason = refusal(value)
    if reason:
        raise ValidationError(f"The hub will not send webhooks to {value!r}: {reason}.")
