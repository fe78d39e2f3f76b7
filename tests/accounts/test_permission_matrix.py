"""Walk every URL pattern of the hub with every actor of the demo cast.

A route that declares no action, an action missing from the matrix, a route without a
sample request here, a refused actor that gets through or a granted one that is refused:
each fails this test. Object routes are also tried with another organisation's objects,
which must answer 404.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client
from django.utils import timezone

from accounts.audit import AuditContext
from accounts.models import Organisation, User
from accounts.permissions import ACTIONS, get_action, is_granted
from accounts.services import api_key_issue, signing_key_register
from core.routes import all_routes, is_admin_route, non_api_routes
from tests.conftest import sign_in

Sample = Callable[[Organisation], tuple[dict, dict | None]]


def _fresh_api_key(org: Organisation) -> dict:
    api_key, _ = api_key_issue(
        organisation=org,
        name="target",
        role=_any_role(org),
        scope="read",
        expires_at=None,
        context=AuditContext.system(),
    )
    return {"prefix": api_key.prefix}


def _fresh_signing_key(org: Organisation) -> dict:
    raw = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    key = signing_key_register(
        organisation=org, public_key=base64.b64encode(raw).decode(), context=AuditContext.system()
    )
    return {"key_id": key.key_id}


def _any_role(org: Organisation) -> str:
    from accounts.permissions import ROLES_BY_KIND

    return ROLES_BY_KIND[org.kind][-1]


def _new_public_key() -> str:
    raw = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return base64.b64encode(raw).decode()


_counter = iter(range(10**6))


def _restricted_signal(org: Organisation):
    """A listed signal in a fresh bank that only `org` may read (and contribute to)."""
    from accounts import grants
    from hashbank.models import Bank, Label, Signal

    # Peer hubs receive banks marked shareable with peers (the cast has one peer hub).
    bank = Bank.objects.create(
        name=f"R{next(_counter)}",
        title="restricted",
        purpose="test",
        read_access="granted",
        contribute_access="granted",
        peer_shareable=org.kind == "peer_hub",
    )
    for permission in ("hashbank.read_bank", "hashbank.contribute_bank"):
        grants.grant(organisation=org, permission=permission, obj=bank)
    signal = Signal.objects.create(
        bank=bank, signal_type="md5", value=f"{next(_counter):032x}", status="active"
    )
    signal.labels.set([Label.objects.first()])
    return signal


def _logged_bank(org: Organisation) -> dict:
    """A bank only `org` may read, holding one change-log entry."""
    from hashbank.models import ChangeOp
    from hashbank.services.changelog import Change, changelog_append

    signal = _restricted_signal(org)
    changelog_append(changes=[Change(signal=signal, op=ChangeOp.ADD)])
    return {"bank": signal.bank.name}


def _cosignature(org: Organisation) -> tuple[dict, dict]:
    """A valid cosignature of a bank only `org` may read, by a witness `org` runs when it is
    a peer hub (only peer hubs run witnesses)."""
    import time

    from hashbank.models import Bank, Witness
    from hashbank.services.transparency import checkpoint_latest
    from hashfed_wire import note

    kwargs = _logged_bank(org)
    bank = Bank.objects.get(name=kwargs["bank"])
    checkpoint = checkpoint_latest(bank)
    key = Ed25519PrivateKey.generate()
    name = f"witness.test/{next(_counter)}"
    verifier = note.Verifier(name, key.public_key().public_bytes_raw(), note.COSIGNATURE_ED25519)
    if org.kind == "peer_hub":
        witness = Witness.objects.create(name=name, verifier_key=verifier.vkey, organisation=org)
        witness.banks.add(bank)
    text = checkpoint.note[: checkpoint.note.rfind("\n\n") + 1]
    line = note.cosignature_line(text, name=name, private_key=key, timestamp=int(time.time()))
    body = {"size": checkpoint.size, "root_hash": checkpoint.root_hash, "cosignature": line}
    return kwargs, body


def _witness_request(org: Organisation) -> tuple[dict, dict]:
    """A tlog-witness add-checkpoint request for a log of `org` (a peer hub gets an
    agreement here, with the key that signs the checkpoint)."""
    from federation.peering.models import PeeringAgreement
    from hashfed_wire import merkle, note

    key = Ed25519PrivateKey.generate()
    origin = f"{org.slug}.peer.test"
    if org.kind == "peer_hub":
        PeeringAgreement.objects.update_or_create(
            organisation=org,
            defaults={
                "origin": origin,
                "base_url": f"https://{origin}",
                "public_key": note.verifier_key(origin, key.public_key().public_bytes_raw()),
            },
        )
    checkpoint = note.Checkpoint(
        f"{origin}/banks/B{next(_counter)}", 1, merkle.leaf_hash(b"entry"), issued_at=1
    )
    signed = note.sign_checkpoint(checkpoint, name=origin, private_key=key)
    return {}, {"text/plain": f"old 0\n\n{signed}".encode()}


def _signal_kwargs(org: Organisation) -> dict:
    return {"signal_id": _restricted_signal(org).pk}


def _submission(org: Organisation) -> dict:
    from hashbank.models import Bank, Submission
    from tests.conftest import Signer

    signer = Signer(org) if not org.signing_keys.exists() else None
    key = signer.key if signer else org.signing_keys.first()
    submission = Submission.objects.create(
        organisation=org,
        submission_id=uuid.uuid4(),
        signing_key=key,
        canonical_payload=b"{}",
        payload_digest="0" * 64,
        signature="",
        envelope_digest=uuid.uuid4().hex * 2,
        bank=Bank.objects.get(name="TVEC"),
        signal_type="md5",
        value="0" * 32,
        created_at=timezone.now(),
    )
    return {"submission_id": submission.submission_id}


def _envelope_digest(org: Organisation) -> dict:
    from hashbank.models import Submission

    submission_id = _submission(org)["submission_id"]
    return {
        "digest": Submission.objects.get(
            organisation=org, submission_id=submission_id
        ).envelope_digest
    }


def _dispute(org: Organisation, decided: bool = False) -> dict:
    from hashbank.services import dispute_decide, dispute_open

    signal = _restricted_signal(org)
    dispute = dispute_open(
        organisation=org, signal=signal, kind="signal", grounds="g", context=AuditContext.system()
    )
    if decided:
        dispute_decide(
            dispute=dispute,
            outcome="upheld",
            reason="r",
            reviewer=User.objects.get(email="moderator@consortium.example"),
            context=AuditContext.system(),
        )
    return {"dispute_id": dispute.public_id}


def _snapshot(org: Organisation) -> dict:
    from hashbank.services.snapshots import snapshots_create

    signal = _restricted_signal(org)
    snapshot = next(s for s in snapshots_create() if s.bank_id == signal.bank_id)
    return {"snapshot_id": snapshot.pk}


def _envelope(org: Organisation) -> dict:
    from tests.conftest import Signer

    return {"submissions": [Signer(org).envelope(bank="HATE", labels=["hate-dehumanisation"])]}


def _image_upload() -> dict:
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 30, 200)).save(buffer, format="PNG")
    return {"file": SimpleUploadedFile("a.png", buffer.getvalue())}


def _lawful_request_body() -> dict:
    return {
        "kind": "notice",
        "issuing_authority": "Matrix unit",
        "officer": "Officer M",
        "legal_basis": "Act 1, s. 2",
        "jurisdiction": "DE",
        "addressed_platforms": ["northwind"],
        "subject": {"urls": ["https://video.example/v/1"]},
    }


def _lawful_request(org: Organisation) -> dict:
    """A forwarded request `org` is party to: filed by it (an authority), or addressed to it
    (filed by a fresh authority of its own, so no other actor is a party)."""
    from federation.authorities.services import lawful_request_file, lawful_request_validate

    if org.kind == "authority":
        authority, platform = org, "northwind"
    else:
        authority = Organisation.objects.create(
            slug=f"authority-{next(_counter)}",
            name="Matrix authority",
            kind="authority",
            country="DE",
            status="active",
        )
        platform = org.slug
        if org.kind != "platform" or not org.is_active:
            # Only active platforms can be addressed: use a fresh one nobody else is.
            platform = Organisation.objects.create(
                slug=f"platform-{next(_counter)}",
                name="Matrix platform",
                kind="platform",
                tier="full",
                country="DE",
                status="active",
            ).slug
    filed = lawful_request_file(
        authority=authority,
        filed_by=None,
        kind="notice",
        issuing_authority="Unit",
        officer="Officer",
        legal_basis="Act",
        jurisdiction="DE",
        addressed=[platform],
        subject_urls=["https://video.example/v/1"],
        subject_hashes=[],
        subject_accounts=[],
        description="",
        context=AuditContext.system(),
    )
    lawful_request_validate(request=filed.request, context=AuditContext.system())
    return {"request_id": filed.request.public_id}


def _collection(org: Organisation) -> dict:
    """The TAXII collection of a bank only `org` may read."""
    from hashbank.models import Bank
    from taxii.selectors import collection_id_of

    return {"collection_id": collection_id_of(Bank.objects.get(name=_logged_bank(org)["bank"]))}


def _taxii_object(org: Organisation) -> dict:
    """An indicator in the TAXII collection of a bank only `org` may read."""
    from hashbank.models import Bank
    from taxii.selectors import collection_id_of, collection_page

    bank = Bank.objects.get(name=_logged_bank(org)["bank"])
    page = collection_page(bank=bank, after=None, added_after=None, limit=2)
    return {"collection_id": collection_id_of(bank), "object_id": page.items[-1].object["id"]}


def _webhook(org: Organisation) -> dict:
    from federation.incidents.models import WebhookEndpoint

    endpoint = WebhookEndpoint.objects.create(
        organisation=org, url="https://93.184.215.14/hook", secret="whsec_matrix"
    )
    return {"endpoint_id": endpoint.public_id}


# route name → method → sample(org owning the target objects) → (url kwargs, body)
SAMPLES: dict[str, dict[str, Sample]] = {
    "accounts:me": {"GET": lambda org: ({}, None)},
    "accounts:membership-list": {"GET": lambda org: ({}, None)},
    "accounts:apikey-list": {
        "GET": lambda org: ({}, None),
        "POST": lambda org: ({}, {"name": "matrix", "role": _any_role(org), "scope": "read"}),
    },
    "accounts:apikey-detail": {"GET": lambda org: (_fresh_api_key(org), None)},
    "accounts:apikey-revoke": {"POST": lambda org: (_fresh_api_key(org), None)},
    "accounts:signingkey-list": {
        "GET": lambda org: ({}, None),
        "POST": lambda org: ({}, {"public_key": _new_public_key()}),
    },
    "accounts:signingkey-detail": {"GET": lambda org: (_fresh_signing_key(org), None)},
    "accounts:signingkey-revoke": {
        "POST": lambda org: (_fresh_signing_key(org), {"reason": "retired"}),
    },
    "accounts:auditevent-list": {"GET": lambda org: ({}, None)},
    "accounts:hub-identity": {"GET": lambda org: ({}, None)},
    "well-known": {"GET": lambda org: ({}, None)},
    "hashbank:label-list": {"GET": lambda org: ({}, None)},
    "hashbank:bank-list": {"GET": lambda org: ({}, None)},
    "hashbank:submission-list": {
        "GET": lambda org: ({}, None),
        "POST": lambda org: ({}, _envelope(org)),
    },
    "hashbank:submission-detail": {"GET": lambda org: (_submission(org), None)},
    "hashbank:submission-inclusion": {"GET": lambda org: (_submission(org), None)},
    "hashbank:submission-withdraw": {"POST": lambda org: (_submission(org), None)},
    "hashbank:submission-envelope": {"GET": lambda org: (_submission(org), None)},
    "hashbank:envelope-detail": {"GET": lambda org: (_envelope_digest(org), None)},
    "hashbank:published-key-list": {"GET": lambda org: ({}, None)},
    "hashbank:sync": {"GET": lambda org: ({}, None)},
    "hashbank:snapshot-list": {"GET": lambda org: ({}, None)},
    "hashbank:snapshot-download": {"GET": lambda org: (_snapshot(org), None)},
    "hashbank:bank-checkpoint": {"GET": lambda org: (_logged_bank(org), None)},
    "hashbank:bank-checkpoint-cosignatures": {"POST": _cosignature},
    "witness-add-checkpoint": {"POST": _witness_request},
    "hashbank:bank-proof-inclusion": {"GET": lambda org: (_logged_bank(org), {"index": 0})},
    "hashbank:bank-proof-consistency": {"GET": lambda org: (_logged_bank(org), {"from": 0})},
    "hashbank:bank-tile": {"GET": lambda org: ({**_logged_bank(org), "path": "0/000.p/1"}, None)},
    "hashbank:signal-detail": {"GET": lambda org: (_signal_kwargs(org), None)},
    "hashbank:opinion": {"PUT": lambda org: (_signal_kwargs(org), {"kind": "seen"})},
    "hashbank:dispute-list": {
        "GET": lambda org: ({}, None),
        "POST": lambda org: (
            {},
            {"signal": _restricted_signal(org).pk, "kind": "signal", "grounds": "g"},
        ),
    },
    "hashbank:lookup": {
        "POST": lambda org: ({}, {"queries": [{"signal_type": "md5", "value": "0" * 32}]}),
    },
    "hashbank:hosted-hash": {"POST": lambda org: ({}, _image_upload())},
    "hashbank:dispute-detail": {"GET": lambda org: (_dispute(org), None)},
    "hashbank:dispute-appeal": {
        "POST": lambda org: (_dispute(org, decided=True), {"grounds": "g"}),
    },
    "authorities:request-list": {
        "GET": lambda org: ({}, None),
        "POST": lambda org: ({}, _lawful_request_body()),
    },
    "authorities:request-detail": {"GET": lambda org: (_lawful_request(org), None)},
    "authorities:request-acknowledge": {"POST": lambda org: (_lawful_request(org), None)},
    "authorities:request-answer": {
        "POST": lambda org: (_lawful_request(org), {"outcome": "actioned", "details": "done"}),
    },
    "incidents:incident-list": {"GET": lambda org: ({}, None)},
    "incidents:webhook-list": {
        "GET": lambda org: ({}, None),
        "POST": lambda org: ({}, {"url": "https://93.184.215.14/hashfed"}),
    },
    "incidents:webhook-detail": {
        "GET": lambda org: (_webhook(org), None),
        "DELETE": lambda org: (_webhook(org), None),
    },
    "incidents:webhook-deliveries": {"GET": lambda org: (_webhook(org), None)},
    "transparency:statistics": {
        "GET": lambda org: ({}, None),
    },
    "taxii:discovery": {"GET": lambda org: ({}, None)},
    "taxii:api-root": {"GET": lambda org: ({}, None)},
    "taxii:collection-list": {"GET": lambda org: ({}, None)},
    "taxii:collection-detail": {"GET": lambda org: (_collection(org), None)},
    "taxii:object-list": {"GET": lambda org: (_collection(org), None)},
    "taxii:manifest": {"GET": lambda org: (_collection(org), None)},
    "taxii:object-detail": {"GET": lambda org: (_taxii_object(org), None)},
    "taxii:object-versions": {"GET": lambda org: (_taxii_object(org), None)},
}

NON_API_ROUTES = non_api_routes()
API_ROUTES = [r for r in all_routes() if not is_admin_route(r) and r.name not in NON_API_ROUTES]
CASES = [(r, method) for r in API_ROUTES for method in sorted(r.actions)]


def _url(route, kwargs: dict) -> str:
    path = "/" + route.pattern
    for name, value in kwargs.items():
        for converter in ("str", "int", "uuid", "slug", "id", "text", "path", "tilepath"):
            path = path.replace(f"<{converter}:{name}>", str(value))
    return path


def _call(client, method: str, url: str, body: dict | None):
    if url.startswith("/taxii2/"):
        # TAXII speaks its own media type, and only that (docs/interop.md).
        return getattr(client, method.lower())(
            url, HTTP_ACCEPT="application/taxii+json;version=2.1"
        )
    if body is None:
        return getattr(client, method.lower())(url)
    if "text/plain" in body:
        return getattr(client, method.lower())(url, body["text/plain"], content_type="text/plain")
    if "file" in body:
        body["file"].seek(0)
        return getattr(client, method.lower())(url, body, format="multipart")
    return getattr(client, method.lower())(url, body, format="json")


def _error_code(response) -> str:
    """The code of an error in the API's shape, or in TAXII's (its `error_code`)."""
    body = response.json()
    return body["error"]["code"] if "error" in body else body["error_code"]


def test_every_route_declares_an_action_in_the_matrix():
    missing = [r.pattern for r in API_ROUTES if not r.actions]
    assert not missing, f"routes without a declared action: {missing}"
    for route in API_ROUTES:
        for action in route.actions.values():
            assert action in ACTIONS, f"{route.pattern} declares unknown action {action}"
    unnamed = [r.pattern for r in all_routes() if not r.name and not is_admin_route(r)]
    assert not unnamed, f"routes without a name: {unnamed}"


def test_every_api_route_has_a_sample_request_here():
    for route, method in CASES:
        assert method in SAMPLES.get(route.name, {}), (
            f"add a sample request for {method} {route.pattern} ({route.name}) to SAMPLES"
        )


@pytest.mark.parametrize(("route", "method"), CASES, ids=[f"{m} {r.pattern}" for r, m in CASES])
def test_each_actor_reaches_exactly_what_the_matrix_grants(cast, anonymous, route, method):
    action = get_action(route.actions[method])
    sample = SAMPLES[route.name][method]
    home = Organisation.objects.get(slug="northwind")

    kwargs, body = sample(home)
    response = _call(anonymous, method, _url(route, kwargs), body)
    if action.public:
        assert response.status_code < 400, (response.status_code, response.content)
    else:
        assert response.status_code == 401, "anonymous got through"
        assert _error_code(response) == "not_authenticated"

    for actor in cast:
        org = actor.org
        kwargs, body = sample(org)
        response = _call(actor.client(), method, _url(route, kwargs), body)
        assert response.status_code != 500
        granted = action.public or is_granted(action.name, kind=org.kind, role=actor.account.role)
        usable = (
            action.public
            or org.status == "active"
            or (action.while_suspended and org.status == "suspended")
        )
        if granted and usable:
            assert response.status_code < 400, (actor.label, response.status_code, response.content)
        else:
            assert response.status_code == 403, (actor.label, response.status_code)
            assert _error_code(response) in {
                "permission_denied",
                "organisation_inactive",
            }


@pytest.mark.parametrize(
    ("route", "method"),
    [(r, m) for r, m in CASES if "<" in r.pattern],
    ids=[f"{m} {r.pattern}" for r, m in CASES if "<" in r.pattern],
)
def test_no_actor_reaches_another_organisations_objects(cast, route, method):
    action = get_action(route.actions[method])
    sample = SAMPLES[route.name][method]
    for actor in cast:
        org = actor.org
        if not is_granted(action.name, kind=org.kind, role=actor.account.role):
            continue
        others = Organisation.objects.exclude(pk=org.pk).filter(
            kind=org.kind
        ) or Organisation.objects.exclude(pk=org.pk)
        for other in others:
            kwargs, body = sample(other)
            response = _call(actor.client(), method, _url(route, kwargs), body)
            assert response.status_code in (403, 404), (
                actor.label,
                other.slug,
                response.status_code,
            )


def test_only_consortium_staff_reach_admin(cast):
    from django.contrib import admin

    model_pages = [
        f"/admin/{m._meta.app_label}/{m._meta.model_name}/" for m in admin.site._registry
    ]
    for actor in [*cast, None]:
        client = Client()
        if actor is not None:
            sign_in(client, actor.user)
        is_staff = actor is not None and actor.org.kind == "consortium"
        for page in ["/admin/", *model_pages]:
            response = client.get(page)
            if is_staff:
                assert response.status_code in (200, 403), (actor.label, page)
            else:
                assert response.status_code == 302, (actor and actor.label, page)
                assert "/admin/login/" in response["Location"]


def test_the_governance_officer_sees_every_admin_page(cast):
    client = Client()
    sign_in(client, User.objects.get(email="governance@consortium.example"))
    from django.contrib import admin

    for model in admin.site._registry:
        page = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert client.get(page).status_code == 200, page


def test_public_non_api_routes_answer_without_credentials(db):
    client = Client()
    for path in ["/api/v1/schema/", "/healthz"]:
        assert client.get(path).status_code == 200, path
