"""Where webhooks may go. Private, loopback, link-local and other non-public addresses are
refused unless the allow-list names them; the check runs when the socket connects, on the very
address connected to, so DNS answers that change between check and use cannot slip through."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from ..errors import BizEventsError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTargetError(BizEventsError):
    """The webhook URL or the address it resolves to is not allowed."""


class AddressPolicy:
    def __init__(self, allow: Iterable[str] = ()) -> None:
        """`allow`: addresses or networks (CIDR) reachable although not public."""
        self.allow = tuple(ipaddress.ip_network(a, strict=False) for a in allow)

    def check(self, address: IPAddress) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allow):
            return
        if not address.is_global or address.is_multicast:
            raise UnsafeTargetError(
                f"address {address} is not public (private, loopback, link-local or reserved) "
                "and not on the webhook allow-list"
            )


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return [literal]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeTargetError(f"cannot resolve {host!r}: {exc.strerror}") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


async def check_url(url: str, policy: AddressPolicy) -> str:
    """A webhook URL as given at subscription time: http(s), a host, no credentials, and every
    address it resolves to allowed. Returns the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTargetError("a webhook URL is http:// or https:// with a host")
    if parts.username or parts.password:
        raise UnsafeTargetError("a webhook URL must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeTargetError("the webhook URL has an invalid port") from None
    for address in await resolve(parts.hostname, port):
        policy.check(address)
    return url


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allows (every
    address of the name must be allowed; the first is used). TLS still verifies the name."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port)
        for address in addresses:
            self.policy.check(address)
        return await self.inner.connect_tcp(
            str(addresses[0]), port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise UnsafeTargetError("webhooks do not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_client(policy: AddressPolicy, timeout: float, max_connections: int = 100
                   ) -> httpx.AsyncClient:  # fmt: skip
    """An HTTP client that follows no redirects, ignores proxy settings from the environment
    and connects only where the policy allows."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx builds its connection pool without a way to pass a network backend: replace it.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        network_backend=GuardedBackend(policy),
    )
    return httpx.AsyncClient(
        transport=transport, follow_redirects=False, timeout=timeout, trust_env=False
    )
