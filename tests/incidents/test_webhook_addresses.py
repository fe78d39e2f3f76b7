"""Where webhook deliveries may go: registration and every send apply the same outbound
policy, a name is resolved once per send and the connection goes to the address that was
checked, with the registered name in the Host header, in TLS SNI and in certificate
verification; a DNS answer that changes after registration is caught at send time."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.outbound import resolver_override
from federation.incidents.models import WebhookDelivery
from federation.incidents.services import webhook_delivery_send
from tests.incidents.test_incidents import declare_in_admin, register

HOOK_HOST = "hooks.northwind.example"


class ScriptedResolver:
    """DNS as the test scripts it: each lookup pops the next answer (the last one repeats)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host != HOOK_HOST:
            raise OSError("no such host")
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.mark.parametrize(
    "url",
    [
        "https://100.100.100.200/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://[2002:7f00:1::]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",
        "https://[2001:0:7f00:1::]/hook",
        "https://2130706433/hook",
        "https://0x7f.1/hook",
        "https://017700000001/hook",
        "https://127.1/hook",
        "https://user:secret@hooks.northwind.example/hook",
    ],
)
def test_it_refuses_webhook_urls_reaching_non_global_addresses(cast, url):
    with resolver_override(ScriptedResolver(["8.8.8.8"])):
        response = register(cast["northwind/admin"], url)
    assert response.status_code == 400, url
    # The serializer's URL field already refuses some spellings; the rest are unsafe_url.
    assert response.json()["error"]["fields"]["url"][0]["code"] in ("unsafe_url", "invalid")


def test_the_loopback_escape_hatch_does_not_open_other_special_blocks(cast, settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    for url in ("https://100.100.100.200/hook", "https://10.0.0.1/hook", "http://8.8.8.8/h"):
        response = register(cast["northwind/admin"], url)
        assert response.status_code == 400, url


def test_a_dns_answer_that_changes_after_registration_is_caught_at_send_time(cast, receiver):
    dns = ScriptedResolver(["8.8.8.8"], ["100.100.100.200"])
    with resolver_override(dns):
        response = register(cast["northwind/admin"], f"https://{HOOK_HOST}/hook")
        assert response.status_code == 201, response.content
        declare_in_admin()
        delivery = WebhookDelivery.objects.get()
        assert webhook_delivery_send(delivery_pk=delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert "100.100.100.200" in delivery.last_error
    assert [a.error for a in delivery.tries.all()] == [delivery.last_error]
    assert delivery.tries.get().status_code is None


def test_a_delivery_connects_to_the_address_that_was_checked_with_the_original_host(
    cast, receiver, settings
):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    port = receiver.url.split(":")[2].split("/")[0]
    # A second lookup would answer with an address nothing listens on.
    dns = ScriptedResolver(["127.0.0.1"], ["127.0.0.1"], ["127.0.0.1"], ["127.0.0.2"])
    with resolver_override(dns):
        register(cast["northwind/admin"], f"http://{HOOK_HOST}:{port}/hook?via=name")
        declare_in_admin()
        delivery = WebhookDelivery.objects.get()
        lookups_before_send = len(dns.lookups)
        assert webhook_delivery_send(delivery_pk=delivery.pk) == "delivered"
    assert len(dns.lookups) == lookups_before_send + 1
    [received] = receiver.requests
    assert received.headers["Host"] == f"{HOOK_HOST}:{port}"


@dataclass
class TlsReceiver:
    port: int
    ca_file: str
    server_names: list[str | None] = field(default_factory=list)
    requests: int = 0


def _certificate(subject: str, issuer_key, issuer_name, key, *, ca: bool, san: str | None):
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(params=[HOOK_HOST, "elsewhere.example"], ids=["right-name", "wrong-name"])
def tls_receiver(request, tmp_path) -> Iterator[TlsReceiver]:
    """An https receiver on 127.0.0.1 whose certificate names `request.param`, issued by a
    throwaway CA the test trusts through SSL_CERT_FILE."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca_cert = _certificate("test CA", ca_key, ca_name, ca_key, ca=True, san=None)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(request.param, ca_key, ca_name, leaf_key, ca=False, san=request.param)
    (tmp_path / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.key").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    state = TlsReceiver(port=0, ca_file=str(tmp_path / "ca.pem"))
    server_context.sni_callback = lambda sock, name, ctx: state.server_names.append(name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    class TlsServer(ThreadingHTTPServer):
        def get_request(self):
            sock, address = super().get_request()
            try:
                return server_context.wrap_socket(sock, server_side=True), address
            except (ssl.SSLError, OSError):
                sock.close()
                raise

        def handle_error(self, request, client_address) -> None:
            return

    server = TlsServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def test_a_tls_delivery_names_the_registered_host_in_sni_and_verifies_its_certificate(
    cast, settings, tls_receiver, monkeypatch, request
):
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    monkeypatch.setenv("SSL_CERT_FILE", tls_receiver.ca_file)
    with resolver_override(ScriptedResolver(["127.0.0.1"])):
        response = register(cast["northwind/admin"], f"https://{HOOK_HOST}:{tls_receiver.port}/h")
        assert response.status_code == 201, response.content
        declare_in_admin()
        delivery = WebhookDelivery.objects.get()
        state = webhook_delivery_send(delivery_pk=delivery.pk)
    assert tls_receiver.server_names == [HOOK_HOST]
    if request.node.callspec.id == "right-name":
        assert state == "delivered"
        assert tls_receiver.requests == 1
    else:
        assert state == "pending"
        assert tls_receiver.requests == 0
        delivery.refresh_from_db()
        assert "certificate" in delivery.last_error.lower()
