"""The one policy for every HTTP request the hub makes to an address a member (or a peer
hub) gave it: webhook deliveries (POST) and pulls from peer hubs (GET).

A URL someone else chose must never make the hub reach its own network or a cloud metadata
service (SSRF). The policy:

- `https` only (plain `http` only under the test-only loopback escape hatch);
- no credentials in the URL, no numeric host spelled other than as a dotted quad or an IPv6
  literal (`2130706433`, `0x7f.1`, `017700000001`, `127.1` are refused, not interpreted);
- the name is resolved **once**, every address it resolves to must be globally routable
  (`address_refusal`), and the connection then goes to one of those very addresses, with
  the original name in the Host header, in TLS SNI and in certificate verification: there is
  no second resolution between the check and the connection for DNS rebinding to exploit;
- redirects are never followed.

`WEBHOOK_ALLOW_LOOPBACK` lets 127.0.0.0/8 and ::1 (and http to them) through, for tests
that run a receiver on this machine; it never lets any other special-purpose block through.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

_N4 = ipaddress.IPv4Network
_N6 = ipaddress.IPv6Network

# The IANA IPv4 Special-Purpose Address Registry, plus multicast. Every block is refused,
# the few the registry marks globally reachable included: they are anycast infrastructure
# (AS112, AMT, PCP, TURN), never a member's receiver.
SPECIAL_IPV4_BLOCKS: tuple[tuple[_N4, str], ...] = (
    (_N4("0.0.0.0/8"), "this network"),
    (_N4("10.0.0.0/8"), "private use"),
    (_N4("100.64.0.0/10"), "shared address space (carrier-grade NAT)"),
    (_N4("127.0.0.0/8"), "loopback"),
    (_N4("169.254.0.0/16"), "link local"),
    (_N4("172.16.0.0/12"), "private use"),
    (_N4("192.0.0.0/24"), "IETF protocol assignments"),
    (_N4("192.0.2.0/24"), "documentation (TEST-NET-1)"),
    (_N4("192.31.196.0/24"), "AS112-v4"),
    (_N4("192.52.193.0/24"), "AMT"),
    (_N4("192.88.99.0/24"), "deprecated 6to4 relay anycast"),
    (_N4("192.168.0.0/16"), "private use"),
    (_N4("192.175.48.0/24"), "direct delegation AS112 service"),
    (_N4("198.18.0.0/15"), "benchmarking"),
    (_N4("198.51.100.0/24"), "documentation (TEST-NET-2)"),
    (_N4("203.0.113.0/24"), "documentation (TEST-NET-3)"),
    (_N4("224.0.0.0/4"), "multicast"),
    (_N4("240.0.0.0/4"), "reserved"),
    (_N4("255.255.255.255/32"), "limited broadcast"),
)

# The IANA IPv6 Special-Purpose Address Registry, plus multicast, site-local and the
# deprecated IPv4-compatible block. The blocks that embed an IPv4 address and that a
# dual-stack or NAT64 host legitimately uses (IPv4-mapped, the well-known NAT64 prefix)
# are judged by the IPv4 address they carry instead: see `_embedded_ipv4`.
SPECIAL_IPV6_BLOCKS: tuple[tuple[_N6, str], ...] = (
    (_N6("::/128"), "unspecified"),
    (_N6("::1/128"), "loopback"),
    (_N6("::/96"), "IPv4-compatible (deprecated)"),
    (_N6("64:ff9b:1::/48"), "local-use IPv4/IPv6 translation"),
    (_N6("100::/64"), "discard-only"),
    (_N6("100:0:0:1::/64"), "dummy IPv6 prefix"),
    (_N6("2001::/23"), "IETF protocol assignments"),
    (_N6("2001::/32"), "Teredo"),
    (_N6("2001:1::1/128"), "port control protocol anycast"),
    (_N6("2001:1::2/128"), "TURN anycast"),
    (_N6("2001:1::3/128"), "DNS-SD service registration protocol anycast"),
    (_N6("2001:2::/48"), "benchmarking"),
    (_N6("2001:3::/32"), "AMT"),
    (_N6("2001:4:112::/48"), "AS112-v6"),
    (_N6("2001:10::/28"), "deprecated ORCHID"),
    (_N6("2001:20::/28"), "ORCHIDv2"),
    (_N6("2001:30::/28"), "drone remote ID protocol entity tags"),
    (_N6("2001:db8::/32"), "documentation"),
    (_N6("2002::/16"), "6to4"),
    (_N6("2620:4f:8000::/48"), "direct delegation AS112 service"),
    (_N6("3fff::/20"), "documentation"),
    (_N6("5f00::/16"), "segment routing (SRv6) SIDs"),
    (_N6("fc00::/7"), "unique local"),
    (_N6("fe80::/10"), "link local"),
    (_N6("fec0::/10"), "site local (deprecated)"),
    (_N6("ff00::/8"), "multicast"),
)
_IPV4_MAPPED = _N6("::ffff:0:0/96")
_NAT64_WELL_KNOWN = _N6("64:ff9b::/96")
# IANA allocates global unicast from 2000::/3 only; anything else is not routable today.
_IPV6_GLOBAL_UNICAST = _N6("2000::/3")
_LOOPBACK_ESCAPE = (_N4("127.0.0.0/8"), _N6("::1/128"))


class UnsafeUrl(ValueError):
    """A URL, or an address it resolves to, that the hub must not call."""


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


_resolver: Resolver = _system_resolver


@contextmanager
def resolver_override(resolver: Resolver) -> Iterator[None]:
    """Answer name lookups with `resolver` (host, port → address strings) for a while. For
    tests: DNS is outside the project, and this is the only place the hub resolves names
    it is told to call."""
    global _resolver
    previous, _resolver = _resolver, resolver
    try:
        yield
    finally:
        _resolver = previous


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address in _IPV4_MAPPED:
        return address.ipv4_mapped
    if address in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _allowed_by_escape_hatch(address: IPAddress, allow_loopback: bool) -> bool:
    return allow_loopback and any(
        address.version == block.version and address in block for block in _LOOPBACK_ESCAPE
    )


def address_refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why the hub must not connect to `address`, or None when it is globally routable.
    Python's `is_global` alone is not enough (it misses addresses embedding a non-global
    IPv4 address, and lags the registries), so the registries are listed here."""
    if _allowed_by_escape_hatch(address, allow_loopback):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return f"{address} carries a zone index"
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            # The escape hatch is for 127.0.0.1 and ::1 as written, never reached through
            # an embedding.
            reason = address_refusal(embedded)
            return f"{address} embeds {embedded}: {reason}" if reason else None
        for block, name in SPECIAL_IPV6_BLOCKS:
            if address in block:
                return f"{address} is in {block} ({name})"
        if address not in _IPV6_GLOBAL_UNICAST or not address.is_global:
            return f"{address} is not a global unicast address"
        return None
    for v4_block, name in SPECIAL_IPV4_BLOCKS:
        if address in v4_block:
            return f"{address} is in {v4_block} ({name})"
    if not address.is_global:
        return f"{address} is not globally routable"
    return None


def _literal_address(host: str) -> IPAddress | None:
    """The address a URL's host spells, or None for a name. Only the canonical spellings
    count as addresses; the other numeric forms C's inet_aton accepts (`2130706433`,
    `0x7f.1`, `017700000001`, `127.1`) are refused, since what they mean depends on the
    parser that reads them."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    last_label = host.rstrip(".").rsplit(".", 1)[-1].lower()
    # No top-level domain is numeric, so a host ending in a number is an address in disguise.
    if last_label.isdigit() or last_label.startswith("0x") or last_label == "":
        raise UnsafeUrl(f"{host!r} is not a host name or an address written in the usual way")
    return None


@dataclass(frozen=True)
class OutboundTarget:
    """A URL that passed the policy, with the addresses it was checked against. Connect
    only to these addresses (`outbound_post` does)."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[IPAddress, ...]


def outbound_check(url: str, *, allow_loopback: bool | None = None) -> OutboundTarget:
    """Parse `url`, resolve its host once and check every address. Returns the target to
    connect to; raises UnsafeUrl (with a sentence saying why) for anything the hub must not
    call. `allow_loopback` defaults to the WEBHOOK_ALLOW_LOOPBACK setting."""
    if allow_loopback is None:
        allow_loopback = settings.WEBHOOK_ALLOW_LOOPBACK
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"not a usable URL: {exc}") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeUrl("the URL is https://host/path")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrl("credentials do not belong in the URL")
    host = parts.hostname
    try:
        host.encode("ascii")
    except UnicodeEncodeError as exc:
        raise UnsafeUrl("write an international host name in its xn-- form") from exc
    port = port or (443 if parts.scheme == "https" else 80)
    literal = _literal_address(host)
    if literal is not None:
        resolved: list[IPAddress] = [literal]
    else:
        try:
            answers = _resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise UnsafeUrl(f"the host {host!r} does not resolve") from exc
        if not answers:
            raise UnsafeUrl(f"the host {host!r} does not resolve")
        resolved = [ipaddress.ip_address(answer) for answer in answers]
    for address in resolved:
        reason = address_refusal(address, allow_loopback=allow_loopback)
        if reason is not None:
            raise UnsafeUrl(
                f"{host} resolves to {address}, which is not a public address ({reason}); "
                "the hub calls public addresses only"
            )
    if parts.scheme == "http" and not (
        allow_loopback and all(_allowed_by_escape_hatch(a, True) for a in resolved)
    ):
        raise UnsafeUrl("the hub calls https URLs only")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return OutboundTarget(
        url=url,
        scheme=parts.scheme,
        host=host,
        port=port,
        path=path,
        addresses=tuple(dict.fromkeys(resolved)),
    )


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    address: IPAddress
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class ResponseTooLarge(OSError):
    """An answer longer than the caller accepts."""


def _connection(
    target: OutboundTarget, address: IPAddress, timeout: float
) -> http.client.HTTPConnection:
    """A connection to `address` that names `target.host` everywhere else: in the Host
    header (http.client takes it from the host it is given) and, over TLS, in SNI and in
    certificate verification."""

    def open_socket() -> socket.socket:
        return socket.create_connection((str(address), target.port), timeout=timeout)

    if target.scheme == "https":
        context = ssl.create_default_context()

        class PinnedHTTPSConnection(http.client.HTTPSConnection):
            def connect(self) -> None:
                self.sock = context.wrap_socket(open_socket(), server_hostname=target.host)

        return PinnedHTTPSConnection(target.host, target.port, timeout=timeout, context=context)

    class PinnedHTTPConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = open_socket()

    return PinnedHTTPConnection(target.host, target.port, timeout=timeout)


def _request(
    target: OutboundTarget,
    method: str,
    *,
    body: bytes | None,
    headers: Mapping[str, str],
    timeout: float,
    max_bytes: int,
    truncate: bool = False,
) -> OutboundResponse:
    """Send one request to a checked target, connecting only to the addresses it was checked
    against (the next one when one cannot be reached). A redirect is an answer like any
    other, never followed. Reads at most `max_bytes` of the answer's body (beyond, raises
    ResponseTooLarge, or with `truncate` keeps what was read). Raises OSError or
    http.client.HTTPException when no address answers."""
    last_error: Exception | None = None
    for address in target.addresses:
        connection = _connection(target, address, timeout)
        try:
            connection.request(method, target.path, body=body, headers=dict(headers))
            response = connection.getresponse()
            content = response.read(max_bytes + 1)
            if len(content) > max_bytes and truncate:
                content = content[:max_bytes]
            elif len(content) > max_bytes:
                raise ResponseTooLarge(f"{target.host} answered more than {max_bytes} bytes")
            return OutboundResponse(
                status=response.status,
                address=address,
                headers={name.lower(): value for name, value in response.getheaders()},
                body=content,
            )
        except ConnectionRefusedError as exc:
            last_error = exc
            continue
        finally:
            connection.close()
    assert last_error is not None
    raise last_error


def outbound_post(
    target: OutboundTarget, *, body: bytes, headers: Mapping[str, str], timeout: float
) -> OutboundResponse:
    """POST `body` to a checked target (see `_request`); the answer's body is read only so
    the connection closes cleanly (its first 64 KiB are kept)."""
    return _request(
        target, "POST", body=body, headers=headers, timeout=timeout, max_bytes=65536, truncate=True
    )


def outbound_get(
    url: str, *, headers: Mapping[str, str], timeout: float, max_bytes: int = 64 << 20
) -> OutboundResponse:
    """GET `url` under the policy: checked (`outbound_check`, UnsafeUrl if refused), then
    fetched from the very addresses checked, no redirect followed, at most `max_bytes` of
    answer (ResponseTooLarge). Raises OSError or http.client.HTTPException when no address
    answers."""
    target = outbound_check(url)
    return _request(target, "GET", body=None, headers=headers, timeout=timeout, max_bytes=max_bytes)
