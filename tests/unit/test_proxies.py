"""X-Forwarded-For is read right to left, past trusted proxies only."""

from __future__ import annotations

import pytest

from app.server.proxies import TrustedProxies, parse_ip

PROXIES = TrustedProxies(["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("203.0.113.9", "198.51.100.7", "203.0.113.9"),  # untrusted peer: its header is ignored
        ("10.1.2.3", "198.51.100.7", "198.51.100.7"),
        ("10.1.2.3", "1.1.1.1, 198.51.100.7", "198.51.100.7"),  # the left entry is the client's word
        ("10.1.2.3", "198.51.100.7, 10.9.9.9, 192.0.2.1", "198.51.100.7"),  # a chain of proxies
        ("10.1.2.3", "10.9.9.9", "10.9.9.9"),  # only proxies: the farthest one
        ("10.1.2.3", "garbage, 10.9.9.9", "10.9.9.9"),
        ("10.1.2.3", "", "10.1.2.3"),
        ("10.1.2.3", "198.51.100.7:4711", "198.51.100.7"),
        ("2001:db8::5", "[2001:db8:1::1]:443, 2a00::1", "2a00::1"),
    ],
)
def test_client_address(peer: str, forwarded_for: str, client: str) -> None:
    assert PROXIES.client(peer, forwarded_for) == client


def test_no_proxies_trusts_nobody() -> None:
    none = TrustedProxies([])
    assert not none
    assert none.client("10.1.2.3", "198.51.100.7") == "10.1.2.3"


@pytest.mark.parametrize("text", ["", "x", "1.2.3", "[::1", "1.2.3.4.5"])
def test_parse_ip_refuses_junk(text: str) -> None:
    assert parse_ip(text) is None
