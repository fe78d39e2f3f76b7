"""The outbound address policy every request the hub makes goes through: every block of the
IANA special-purpose registries is refused (written out here, independently of the module's
own table), addresses embedding IPv4 are judged by what they embed, numeric spellings of
addresses are refused, names resolve once and every answer is checked, and the loopback
escape hatch for tests opens loopback and nothing else."""

from __future__ import annotations

import ipaddress

import pytest

from core.outbound import UnsafeUrl, address_refusal, outbound_check, resolver_override

# (block, name) from https://www.iana.org/assignments/iana-ipv4-special-registry and
# https://www.iana.org/assignments/iana-ipv6-special-registry, plus multicast.
IANA_IPV4_SPECIAL = [
    ("0.0.0.0/8", "this network"),
    ("0.0.0.0/32", "this host on this network"),
    ("10.0.0.0/8", "private use"),
    ("100.64.0.0/10", "shared address space"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link local"),
    ("172.16.0.0/12", "private use"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.0.0/29", "IPv4 service continuity prefix"),
    ("192.0.0.8/32", "IPv4 dummy address"),
    ("192.0.0.9/32", "port control protocol anycast"),
    ("192.0.0.10/32", "traversal using relays around NAT anycast"),
    ("192.0.0.170/32", "NAT64/DNS64 discovery"),
    ("192.0.0.171/32", "NAT64/DNS64 discovery"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.31.196.0/24", "AS112-v4"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
    ("192.168.0.0/16", "private use"),
    ("192.175.48.0/24", "direct delegation AS112 service"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited broadcast"),
]
IANA_IPV6_SPECIAL = [
    ("::1/128", "loopback"),
    ("::/128", "unspecified"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy IPv6 prefix"),
    ("2001::/23", "IETF protocol assignments"),
    ("2001::/32", "Teredo"),
    ("2001:1::1/128", "port control protocol anycast"),
    ("2001:1::2/128", "TURN anycast"),
    ("2001:1::3/128", "DNS-SD SRP anycast"),
    ("2001:2::/48", "benchmarking"),
    ("2001:3::/32", "AMT"),
    ("2001:4:112::/48", "AS112-v6"),
    ("2001:10::/28", "deprecated ORCHID"),
    ("2001:20::/28", "ORCHIDv2"),
    ("2001:30::/28", "drone remote ID"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("2620:4f:8000::/48", "direct delegation AS112 service"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing SIDs"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link local"),
    ("ff00::/8", "multicast"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("fec0::/10", "site local (deprecated)"),
]


def _samples(block: str) -> list[str]:
    network = ipaddress.ip_network(block)
    middle = network[network.num_addresses // 2]
    return [str(network[0]), str(middle), str(network[-1])]


@pytest.mark.parametrize(
    "block", [b for b, _ in IANA_IPV4_SPECIAL + IANA_IPV6_SPECIAL], ids=lambda b: b
)
def test_every_iana_special_purpose_block_is_refused(block):
    for sample in _samples(block):
        assert address_refusal(ipaddress.ip_address(sample)) is not None, sample
        literal = f"[{sample}]" if ":" in sample else sample
        with pytest.raises(UnsafeUrl):
            outbound_check(f"https://{literal}/hook", allow_loopback=False)


@pytest.mark.parametrize(
    "address",
    [
        "100.100.100.200",  # a cloud metadata service, in carrier-grade NAT space
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "::127.0.0.1",  # IPv4-compatible
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2002:808:808::1",  # 6to4 of a public address: 6to4 is refused whatever it carries
        "2001:0:7f00:1::",  # Teredo server 127.0.0.1
        "2001:0:808:808:0:0:80ff:fffe",  # Teredo client 127.0.0.1 (obfuscated)
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::6464:64c8",  # NAT64 of 100.100.100.200
        "64:ff9b:1::808:808",  # local-use NAT64, even of a public address
        "4000::1",  # outside 2000::/3, not allocated
    ],
)
def test_addresses_embedding_or_hiding_a_non_global_address_are_refused(address):
    assert address_refusal(ipaddress.ip_address(address)) is not None
    assert address_refusal(ipaddress.ip_address(address), allow_loopback=True) is not None


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "100.63.255.255",  # just below carrier-grade NAT space
        "100.128.0.0",  # just above it
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",  # IPv4-mapped, judged by what it carries
        "64:ff9b::808:808",  # NAT64 of a public address
    ],
)
def test_globally_routable_addresses_are_allowed(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://2130706433/hook",
        "https://0x7f.1/hook",
        "https://0x7f000001/hook",
        "https://017700000001/hook",
        "https://0177.0.0.1/hook",
        "https://127.1/hook",
        "https://127.0.1/hook",
        "https://8.8.8.08/hook",
    ],
)
def test_numeric_spellings_of_addresses_are_refused_not_interpreted(url):
    with (
        resolver_override(lambda host, port: ["8.8.8.8"]),
        pytest.raises(UnsafeUrl),
    ):
        outbound_check(url, allow_loopback=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pass@hooks.example.org/hook",
        "https://user@hooks.example.org/hook",
        "ftp://hooks.example.org/hook",
        "file:///etc/passwd",
        "http://hooks.example.org/hook",  # public, but not https
        "https:///hook",
        "https://hooks.example.org:99999/hook",
    ],
)
def test_it_refuses_credentials_other_schemes_and_plain_http(url):
    with (
        resolver_override(lambda host, port: ["8.8.8.8"]),
        pytest.raises(UnsafeUrl),
    ):
        outbound_check(url, allow_loopback=True)


def test_every_address_a_name_resolves_to_is_checked():
    with (
        resolver_override(lambda host, port: ["8.8.8.8", "100.100.100.200"]),
        pytest.raises(UnsafeUrl, match=r"100\.100\.100\.200"),
    ):
        outbound_check("https://hooks.example.org/hook", allow_loopback=False)
    with resolver_override(lambda host, port: ["8.8.8.8", "2606:4700:4700::1111"]):
        target = outbound_check("https://hooks.example.org/hook?x=1", allow_loopback=False)
    assert [str(a) for a in target.addresses] == ["8.8.8.8", "2606:4700:4700::1111"]
    assert (target.host, target.port, target.path) == ("hooks.example.org", 443, "/hook?x=1")


def test_the_loopback_escape_hatch_opens_loopback_and_nothing_else():
    for url in ("http://127.0.0.1:9/hook", "https://[::1]/hook", "http://127.8.9.10/hook"):
        assert outbound_check(url, allow_loopback=True).addresses
        with pytest.raises(UnsafeUrl):
            outbound_check(url, allow_loopback=False)
    for address in ("10.0.0.1", "100.100.100.200", "169.254.169.254", "0.0.0.0", "192.168.1.1"):
        with pytest.raises(UnsafeUrl):
            outbound_check(f"https://{address}/hook", allow_loopback=True)
    # Plain http stays refused for a public address, and for a name that also resolves to one.
    with (
        resolver_override(lambda host, port: ["127.0.0.1", "8.8.8.8"]),
        pytest.raises(UnsafeUrl, match="https"),
    ):
        outbound_check("http://hooks.example.org/hook", allow_loopback=True)


def test_the_deploy_checks_refuse_the_loopback_escape_hatch(settings):
    from django.core import checks

    settings.WEBHOOK_ALLOW_LOOPBACK = True
    found = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])
    assert "core.E001" in {message.id for message in found}
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    found = checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])
    assert "core.E001" not in {message.id for message in found}


@pytest.fixture
def answering_server():
    """A server on 127.0.0.1 that answers /redirect with a redirect, /big with 2 KiB and
    anything else with the Host header it received."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/redirect":
                body, status = b"", 302
            elif self.path == "/big":
                body, status = b"x" * 2048, 200
            else:
                body, status = f"host={self.headers['Host']}".encode(), 200
            self.send_response(status)
            if status == 302:
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_get_goes_to_the_checked_address_and_never_follows_a_redirect(settings, answering_server):
    from core.outbound import ResponseTooLarge, outbound_get

    settings.WEBHOOK_ALLOW_LOOPBACK = True
    answer = outbound_get(f"{answering_server}/page", headers={}, timeout=5)
    assert answer.status == 200 and answer.body.startswith(b"host=127.0.0.1:")
    assert str(answer.address) == "127.0.0.1"
    moved = outbound_get(f"{answering_server}/redirect", headers={}, timeout=5)
    assert moved.status == 302 and moved.body == b""
    assert moved.headers["location"].startswith("http://169.254.169.254")
    with pytest.raises(ResponseTooLarge):
        outbound_get(f"{answering_server}/big", headers={}, timeout=5, max_bytes=1024)
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    with pytest.raises(UnsafeUrl):
        outbound_get(f"{answering_server}/page", headers={}, timeout=5)
    with resolver_override(lambda host, port: ["10.0.0.7"]), pytest.raises(UnsafeUrl):
        outbound_get("https://peer.example.org/api/v1/sync/", headers={}, timeout=5)
