"""Where an image URL may lead: the fetch policy, applied to every hop.

A request's URL (and every redirect after it) may only be http or https,
may only follow `max_redirects` redirects, and may only connect to
addresses the policy allows. The check sits where the socket connects:
the host is resolved once, every address it resolves to is checked, and
the connection goes to a checked address, so neither a redirect nor a DNS
answer that changes between a check and the connect (rebinding) reaches
another address. Loopback, link-local (cloud metadata at 169.254.169.254),
private, shared, multicast and reserved ranges are denied unless the
config's `fetch_allow` names them; `fetch_deny` denies more. Proxies from
the environment are not used: the policy must see the real address.

Refusals are FetchRefused, whose messages are ours alone: nothing a remote
server sent (status text, headers, a non-HTTP service's banner) is ever
put in an error.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import socket
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SCHEMES = ("http", "https")


class FetchRefused(Exception):
    """A URL or a redirect the policy refuses; the message is safe to show."""


@dataclass(frozen=True)
class FetchPolicy:
    """`allow` and `deny`: host names, addresses or networks (CIDR)."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    max_redirects: int = 3
    _allowed: tuple[Network, ...] = field(init=False, repr=False)
    _denied: tuple[Network, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_allowed", _networks(self.allow))
        object.__setattr__(self, "_denied", _networks(self.deny))

    def check_url(self, url: str) -> None:
        """The scheme and host name of one hop (addresses are checked at connect)."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in _SCHEMES:
            raise FetchRefused(f"only http and https are fetched, not {parts.scheme or 'this'}:")
        host = (parts.hostname or "").lower()
        if not host:
            raise FetchRefused("the URL has no host")
        if host in self.deny:
            raise FetchRefused(f"host {host} is denied (vision.fetch_deny)")

    def check_address(self, host: str, address: Address) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self._denied):
            raise FetchRefused(f"{host} is at a denied address (vision.fetch_deny)")
        if host.lower() in self.allow or any(address in network for network in self._allowed):
            return
        if not address.is_global or address.is_multicast:
            raise FetchRefused(f"{host} is at a {_kind(address)} address, which is not fetched "
                               "unless vision.fetch_allow names it")

    def connect(self, address: tuple[str, int], timeout: float | None = None,
                source_address: tuple[str, int] | None = None) -> socket.socket:
        """socket.create_connection, to a checked address only."""
        host, port = address
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise FetchRefused(f"cannot resolve host {host}") from None
        addresses = [ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
                     for *_, sockaddr in found]
        for checked in addresses:  # all of them: a mixed answer is refused
            self.check_address(host, checked)
        return socket.create_connection((str(addresses[0]), port), timeout, source_address)

    def opener(self) -> urllib.request.OpenerDirector:
        """An opener whose every connection and redirect obeys this policy."""
        return urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _PolicedHttp(self), _PolicedHttps(self),
            _CheckedRedirects(self))


def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue  # a host name, matched by name
    return tuple(networks)


def _kind(address: Address) -> str:
    for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "non-public"


class _PolicedConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, policy: FetchPolicy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = policy.connect


class _PolicedTlsConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, policy: FetchPolicy, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = policy.connect


class _PolicedHttp(urllib.request.HTTPHandler):
    def __init__(self, policy: FetchPolicy) -> None:
        super().__init__()
        self._connection = functools.partial(_PolicedConnection, policy=policy)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)


class _PolicedHttps(urllib.request.HTTPSHandler):
    def __init__(self, policy: FetchPolicy) -> None:
        super().__init__()
        self._connection = functools.partial(_PolicedTlsConnection, policy=policy)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Each redirect checked like the first URL, and at most max_redirects of them."""

    def __init__(self, policy: FetchPolicy) -> None:
        super().__init__()
        self._policy = policy  # its cap comes before urllib's own (10)

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        hops = len(getattr(req, "redirect_dict", {}))
        if hops >= self._policy.max_redirects:
            raise FetchRefused(f"more than {self._policy.max_redirects} redirects "
                               "(vision.fetch_max_redirects)")
        try:
            self._policy.check_url(newurl)
        except FetchRefused as exc:
            raise FetchRefused(f"a redirect was refused: {exc}") from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)
