"""Client addresses behind load balancers: `X-Forwarded-For` is believed only from `TRUSTED_PROXIES`.

The middleware rewrites the ASGI scope's `client` (and `scheme` from `X-Forwarded-Proto`) before
anything else runs, so rate limits, logs and handlers all see one address. A proxy appends the peer it
saw, so the list is read right to left: trusted hops are skipped and the first other address is the
client; anything further left was written by the client itself and could be forged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


def parse_ip(text: str) -> IPAddress | None:
    """An address from a header entry: `1.2.3.4`, `1.2.3.4:567`, `::1` or `[::1]:567`."""
    text = text.strip()
    if text.startswith("["):
        text, bracket, _ = text[1:].partition("]")
        if not bracket:
            return None
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class TrustedProxies:
    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(network, strict=False) for network in networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: str, forwarded_for: str) -> str:
        """The client address for a request from `peer` carrying `forwarded_for`."""
        address = parse_ip(peer)
        if not self.trusts(address):
            return peer
        for entry in reversed(forwarded_for.split(",")):
            hop = parse_ip(entry)
            if hop is None:
                break  # junk: the last trusted hop is the best we know
            address = hop
            if not self.trusts(hop):
                break
        return str(address)


def proxy_headers(app: ASGIApp, proxies: TrustedProxies) -> ASGIApp:
    if not proxies:
        return app

    async def resolve_client(scope: dict[str, Any], receive: Any, send: Any) -> None:
        client = scope.get("client")
        if scope["type"] in {"http", "websocket"} and client and proxies.trusts(parse_ip(client[0])):
            forwarded, proto = [], ""
            for name, value in scope["headers"]:
                if name == b"x-forwarded-for":
                    forwarded.append(value.decode("latin-1"))
                elif name == b"x-forwarded-proto":
                    proto = value.decode("latin-1").strip().lower()
            if forwarded:
                scope["client"] = (proxies.client(client[0], ",".join(forwarded)), 0)
            if proto in {"http", "https"}:
                scope["scheme"] = proto.replace("http", "ws") if scope["type"] == "websocket" else proto
        await app(scope, receive, send)

    return resolve_client
