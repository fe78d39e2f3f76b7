"""Labels of the peer's taxonomy that this hub's does not have: a received signal keeps every
label its origin gave it, through labels created here, marked with the origin hub."""

from __future__ import annotations

import json

from django.test import Client

from accounts.audit import AuditContext
from accounts.models import AuditEvent, User
from hashbank.models import Label, Signal
from hashbank.selectors import labels_active
from hashbank.taxonomy import TAXONOMY_FILE, taxonomy_load
from tests.conftest import sign_in
from tests.peering.test_pull import agreement_with, pulled, receive

GIVEN = ["a-described", "a-retired", "tvec-glorification"]


def test_labels_unknown_here_are_created_from_the_origin_and_kept_on_its_signals(hub_a, cast):
    hub_a.call("label_add", slug="a-described", name="Described at A", category="tvec", severity=4)
    hub_a.call("label_add", slug="a-retired", name="Retired at A", category="tvec", severity=1)
    values = hub_a.call("publish", bank="TVEC", count=2, labels=GIVEN)
    # A retires one: its taxonomy no longer describes it, its entries still name it.
    hub_a.call("label_retire", slug="a-retired")
    assert not Label.objects.filter(slug__startswith="a-").exists()
    received = receive(agreement_with(hub_a), "TVEC")

    assert pulled(received).error == ""
    described, retired = Label.objects.get(slug="a-described"), Label.objects.get(slug="a-retired")
    # Worded as A's taxonomy words it where A still publishes it, marked with A either way,
    # and not in this hub's taxonomy: members here neither submit nor dispute with them.
    assert (described.name, described.category, described.severity) == ("Described at A", "tvec", 4)
    assert described.taxonomy_version == "9.9"
    assert (retired.name, retired.category) == ("a-retired", "peer")
    assert described.origin_hub == retired.origin_hub == "hub-a.test"
    assert not described.active and not retired.active
    assert not labels_active().filter(slug__in=["a-described", "a-retired"]).exists()
    for signal in Signal.objects.filter(bank=received.bank):
        assert sorted(signal.labels.values_list("slug", flat=True)) == GIVEN
    created = AuditEvent.objects.filter(action="peering.label.created")
    assert sorted(e.detail["slug"] for e in created) == ["a-described", "a-retired"]
    assert {e.detail["described_by_origin"] for e in created} == {True, False}

    # A member of this hub looks the hash up and syncs the bank: every label A gave it.
    alice = cast["northwind/admin"].client()
    found = alice.post(
        "/api/v1/lookup/",
        {"queries": [{"signal_type": "pdq", "value": values[0]}]},
        format="json",
    )
    assert found.status_code == 200, found.content
    assert sorted(found.json()["results"][0]["matches"][0]["labels"]) == GIVEN
    entries = alice.get("/api/v1/sync/", {"cursor": 0, "bank": received.bank.name}).json()
    assert [sorted(e["labels"]) for e in entries["entries"]] == [GIVEN, GIVEN]

    # More of A's hashes with those labels: nothing is created twice.
    hub_a.call("publish", bank="TVEC", count=1, labels=["a-described"])
    assert pulled(received).error == ""
    assert Label.objects.filter(origin_hub="hub-a.test").count() == 2
    assert AuditEvent.objects.filter(action="peering.label.created").count() == 2

    # Staff see in admin where a label came from.
    staff = sign_in(Client(), User.objects.get(email="governance@consortium.example"))
    listed = staff.get("/admin/hashbank/label/", {"origin_hub": "hub-a.test"}).content.decode()
    assert "a-described" in listed and "a-retired" in listed
    assert "tvec-glorification" not in listed
    page = staff.get(f"/admin/hashbank/label/{described.pk}/change/").content.decode()
    assert "hub-a.test" in page


def test_a_label_received_from_a_peer_becomes_local_when_the_taxonomy_adopts_it(db, tmp_path):
    Label.objects.create(
        slug="a-described",
        name="Described at A",
        category="tvec",
        severity=4,
        description="d",
        active=False,
        origin_hub="hub-a.test",
    )
    taxonomy = json.loads(TAXONOMY_FILE.read_text())
    taxonomy["labels"].append(
        {
            "slug": "a-described",
            "name": "Adopted",
            "category": "tvec",
            "severity": 3,
            "description": "now ours",
        }
    )
    path = tmp_path / "taxonomy.json"
    path.write_text(json.dumps(taxonomy))
    taxonomy_load(path=path, context=AuditContext.system())
    adopted = Label.objects.get(slug="a-described")
    assert (adopted.origin_hub, adopted.active, adopted.name) == ("", True, "Adopted")
