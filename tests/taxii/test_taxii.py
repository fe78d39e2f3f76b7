"""TAXII 2.1 read access, used as a consumer would: taxii2-client against the live hub,
every object checked with the stix2 library."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import time

import pytest
import requests
import stix2
from django.utils import timezone
from taxii2client.common import TokenAuth
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from accounts import grants
from accounts.audit import AuditContext
from accounts.models import Organisation
from hashbank.models import Bank, ChangeOp, Label, Signal, SignalStatus
from hashbank.services.changelog import Change, changelog_append
from hashbank.services.provenance import erase_disclosures
from taxii.models import IndexedUpTo, IndicatorId, StoredVersion
from taxii.tasks import index_indicator_ids

TAXII = "application/taxii+json;version=2.1"
_values = itertools.count(1)


@pytest.fixture
def hub(live_server, transactional_db, cast):
    return live_server


def server(hub, actor) -> Server:
    return Server(f"{hub.url}/taxii2/", user="apikey", password=actor.account.api_key)


def listed(bank: str, count: int, *, signal_type: str = "md5", labels=()) -> list[Signal]:
    """`count` new signals of `bank`, created in bulk, with their `add` entries."""
    found = Bank.objects.get(name=bank)
    now = timezone.now()
    width = {"md5": 32, "video_md5": 32}.get(signal_type, 64)
    signals = Signal.objects.bulk_create(
        Signal(
            bank=found,
            signal_type=signal_type,
            value=f"{next(_values):0{width}x}",
            first_listed_at=now,
            updated_at=now,
        )
        for _ in range(count)
    )
    label_rows = list(Label.objects.filter(slug__in=labels))
    Signal.labels.through.objects.bulk_create(
        Signal.labels.through(signal_id=s.pk, label_id=label.pk)
        for s in signals
        for label in label_rows
    )
    changelog_append(
        changes=[
            Change(
                signal=s,
                op=ChangeOp.ADD,
                labels=sorted(lb.slug for lb in label_rows),
                contributors=[],
            )
            for s in signals
        ]
    )
    return signals


def removed(signal: Signal) -> None:
    signal.status = SignalStatus.REMOVED
    signal.updated_at = timezone.now()
    signal.save()
    changelog_append(changes=[Change(signal=signal, op=ChangeOp.REMOVE, reason="withdrawn")])


def collection_of(hub, actor, bank: str) -> Collection:
    root = server(hub, actor).api_roots[0]
    return next(c for c in root.collections if c.title == bank)


def objects_of(collection: Collection, per_request: int, **filters) -> list[dict]:
    found = []
    for envelope in as_pages(collection.get_objects, per_request=per_request, **filters):
        found += envelope.get("objects", [])
    return found


def test_discovery_and_api_root(hub, alice):
    found = server(hub, alice)
    assert found.title == "Hashfed hub"
    assert [r.url for r in found.api_roots] == [f"{hub.url}/taxii2/hashfed/"]
    root = found.default
    assert isinstance(root, ApiRoot)
    assert root.versions == [TAXII]


def test_collections_are_the_banks_each_caller_may_read(hub, cast):
    titles = {
        actor: {c.title for c in server(hub, cast[actor]).api_roots[0].collections}
        for actor in ("northwind/admin", "lakeside/admin", "pebble/admin")
    }
    # CSAM is restricted and granted to Northwind alone.
    assert "CSAM" in titles["northwind/admin"]
    assert "CSAM" not in titles["lakeside/admin"]
    assert titles["lakeside/admin"] == titles["northwind/admin"] - {"CSAM"}
    # An associate member reads only the banks open to all members.
    assert titles["pebble/admin"] < titles["lakeside/admin"]
    collection = server(hub, cast["northwind/admin"]).api_roots[0].collections[0]
    assert collection.can_read and not collection.can_write
    assert collection.media_types == ["application/stix+json;version=2.1"]


def test_a_collection_of_a_bank_the_caller_cannot_read_is_404(hub, cast):
    listed("CSAM", 2)
    csam = collection_of(hub, cast["northwind/admin"], "CSAM")
    key = cast["lakeside/admin"].account.api_key
    for suffix in ("", "objects/", "manifest/", f"objects/{csam.id}/"):
        response = requests.get(
            f"{csam.url}{suffix}", auth=("apikey", key), headers={"Accept": TAXII}, timeout=10
        )
        assert response.status_code == 404, suffix
        assert response.headers["Content-Type"] == TAXII
        assert response.json()["http_status"] == "404"
    # The same answer as a collection that does not exist at all.
    missing = requests.get(
        f"{hub.url}/taxii2/hashfed/collections/{'0' * 8}-0000-0000-0000-{'0' * 12}/",
        auth=("apikey", key),
        headers={"Accept": TAXII},
        timeout=10,
    )
    assert missing.status_code == 404
    assert missing.json() == response.json()


@pytest.mark.parametrize(
    "label", ["ruritania-ctu/liaison", "open-harms-lab/researcher", "consortium/moderator"]
)
def test_authorities_researchers_and_staff_are_refused(hub, cast, label):
    tvec = collection_of(hub, cast["northwind/admin"], "TVEC")
    key = cast[label].account.api_key
    for url in (f"{hub.url}/taxii2/", f"{hub.url}/taxii2/hashfed/collections/", tvec.url):
        response = requests.get(url, auth=("x", key), headers={"Accept": TAXII}, timeout=10)
        assert response.status_code == 403, url
        body = response.json()
        assert body["http_status"] == "403" and body["title"] == "Forbidden"


def test_credentials_are_required_and_checked(hub, alice):
    url = f"{hub.url}/taxii2/hashfed/collections/"
    anonymous = requests.get(url, headers={"Accept": TAXII}, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["http_status"] == "401"
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    wrong = requests.get(url, auth=("apikey", "hf_nope"), headers={"Accept": TAXII}, timeout=10)
    assert wrong.status_code == 401
    garbled = requests.get(url, headers={"Accept": TAXII, "Authorization": "Basic %%%"}, timeout=10)
    assert garbled.status_code == 401
    bearer = requests.get(
        url,
        headers={"Accept": TAXII, "Authorization": f"Bearer {alice.account.api_key}"},
        timeout=10,
    )
    assert bearer.status_code == 200
    assert bearer.headers["Content-Type"] == TAXII
    token = requests.get(
        url, auth=TokenAuth(alice.account.api_key), headers={"Accept": TAXII}, timeout=10
    )
    assert token.json() == bearer.json()
    basic = base64.b64encode(f"anyone:{alice.account.api_key}".encode()).decode()
    assert (
        requests.get(
            url, headers={"Accept": TAXII, "Authorization": f"Basic {basic}"}, timeout=10
        ).json()
        == bearer.json()
    )


def test_paging_through_ten_thousand_signals(hub, alice):
    started = time.monotonic()
    listed("TVEC", 10_000, labels=["tvec-glorification"])
    filled = time.monotonic()
    # The periodic task builds each version with stix2 (about 2 ms each); reads then
    # only read them.
    index_indicator_ids()
    built = time.monotonic()
    assert StoredVersion.objects.count() == 10_000
    tvec = collection_of(hub, alice, "TVEC")
    pages = list(as_pages(tvec.get_objects, per_request=1000))
    read = time.monotonic()
    assert read - built < 60
    objects = [o for page in pages for o in page.get("objects", [])]
    assert len(pages) == 11  # the identity and 10,000 indicators, 1,000 a page
    assert [page["more"] for page in pages] == [True] * 10 + [False]
    assert len(objects) == 10_001
    assert len({o["id"] for o in objects}) == 10_001
    identity = objects[0]
    assert identity["type"] == "identity"
    for o in objects:
        parsed = stix2.parse(o, allow_custom=True)
        if o["type"] == "indicator":
            assert parsed.created_by_ref == identity["id"]
            assert parsed.labels == ["tvec-glorification"]
            assert parsed.pattern.startswith("[file:hashes.MD5 = '")
    manifest = [
        entry
        for page in as_pages(tvec.get_manifest, per_request=4000)
        for entry in page.get("objects", [])
    ]
    assert [m["id"] for m in manifest] == [o["id"] for o in objects]
    print(
        f"fill {filled - started:.1f}s, build {built - filled:.1f}s, "
        f"11 pages {read - built:.1f}s, "
        f"parse {time.monotonic() - read:.1f}s"
    )


def test_pages_neither_skip_nor_repeat_when_entries_share_a_timestamp(hub, alice):
    # One append gives all of its entries the same timestamp.
    signals = listed("HATE", 7)
    hate = collection_of(hub, alice, "HATE")
    first = hate.get_objects(limit=3)
    assert first["more"] is True
    # A change between pages moves that signal to the end: seen again, as its new version.
    removed(signals[0])
    rest = objects_of_from(hate, first["next"], 3)
    ids = [o["id"] for o in first["objects"]] + [o["id"] for o in rest]
    indicators = [o for o in first["objects"] + rest if o["type"] == "indicator"]
    assert len(indicators) == 8
    assert len({o["id"] for o in indicators}) == 7
    assert indicators[-1].get("revoked") is True
    assert len(ids) == 9


def objects_of_from(collection: Collection, next_token: str, limit: int) -> list[dict]:
    found = []
    while True:
        envelope = collection.get_objects(limit=limit, next=next_token)
        found += envelope.get("objects", [])
        if not envelope["more"]:
            return found
        next_token = envelope["next"]


def test_a_removed_signal_is_a_revoked_indicator_with_a_later_modified(hub, alice):
    signal = listed("TVEC", 1, signal_type="sha256")[0]
    tvec = collection_of(hub, alice, "TVEC")
    before = next(o for o in objects_of(tvec, 100) if o["type"] == "indicator")
    assert before["pattern"] == f"[file:hashes.'SHA-256' = '{signal.value}']"
    assert "revoked" not in before
    removed(signal)
    after = next(o for o in objects_of(tvec, 100) if o["type"] == "indicator")
    assert after["id"] == before["id"]
    assert after["revoked"] is True
    assert after["modified"] > before["modified"]
    assert after["created"] == before["created"]
    one = tvec.get_object(before["id"])
    assert one["objects"] == [after]
    stix2.parse(after, allow_custom=True)


def test_a_signal_listed_again_after_removal_is_a_new_indicator(hub, alice):
    signal = listed("TVEC", 1)[0]
    tvec = collection_of(hub, alice, "TVEC")
    [first] = [o for o in objects_of(tvec, 100) if o["type"] == "indicator"]
    assert tvec.get_object(first["id"])["objects"] == [first]
    removed(signal)
    signal.status = SignalStatus.ACTIVE
    signal.save()
    changelog_append(changes=[Change(signal=signal, op=ChangeOp.ADD)])
    # Both listings are in the collection: the first one revoked, then the new one.
    [ended, again] = [o for o in objects_of(tvec, 100) if o["type"] == "indicator"]
    assert ended["id"] == first["id"] and ended["revoked"] is True
    assert again["id"] != first["id"]
    assert "revoked" not in again
    assert again["created"] > first["created"]
    assert tvec.get_object(again["id"])["objects"] == [again]
    # The first listing's id still names it: its last version, revoked.
    assert tvec.get_object(first["id"])["objects"] == [ended]
    assert ended["created"] == first["created"]
    assert ended["modified"] > first["modified"]


def test_every_signal_type_is_a_valid_stix_pattern(hub, alice):
    for signal_type in ("md5", "sha256", "pdq", "video_md5", "url"):
        listed("TVEC", 1, signal_type=signal_type)
    vpdq = Signal.objects.create(
        bank=Bank.objects.get(name="TVEC"),
        signal_type="vpdq",
        value='["' + "f" * 64 + ',50,0.5", "' + "e" * 64 + ',100,1.0"]',
    )
    changelog_append(changes=[Change(signal=vpdq, op=ChangeOp.ADD)])
    disputed = listed("TVEC", 1)[0]
    disputed.status = SignalStatus.DISPUTED
    disputed.save()
    changelog_append(changes=[Change(signal=disputed, op=ChangeOp.UPDATE)])
    tvec = collection_of(hub, alice, "TVEC")
    indicators = {
        o["x_hashfed_signal_type"] + ("!" if o["x_hashfed_disputed"] else ""): o
        for o in objects_of(tvec, 100)
        if o["type"] == "indicator"
    }
    assert set(indicators) == {"md5", "sha256", "pdq", "video_md5", "url", "vpdq", "md5!"}
    for indicator in indicators.values():
        stix2.parse(indicator, allow_custom=True)
    assert indicators["pdq"]["pattern"].startswith("[file:hashes.PDQ = '")
    assert indicators["url"]["pattern"].startswith("[url:x_hashfed_sha256 = '")
    assert indicators["vpdq"]["pattern"] == f"[file:hashes.vPDQ = '{vpdq.value}']"
    assert indicators["md5!"]["x_hashfed_status"] == "disputed"


def test_added_after_filters_by_date_added(hub, alice):
    listed("TVEC", 3)
    tvec = collection_of(hub, alice, "TVEC")
    first = tvec.get_objects()
    last_added = requests.get(
        tvec.objects_url,
        auth=("apikey", alice.account.api_key),
        headers={"Accept": TAXII},
        timeout=10,
    ).headers["X-TAXII-Date-Added-Last"]
    assert tvec.get_objects(added_after=last_added) == {"more": False}
    newer = listed("TVEC", 2)
    found = tvec.get_objects(added_after=last_added)
    assert {o["pattern"][-34:-2] for o in found["objects"]} == {s.value for s in newer}
    assert len(first["objects"]) == 4
    earlier = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(tvec.get_objects(added_after=earlier)["objects"]) == 6
    only = tvec.get_objects(**{"type": "indicator"})
    assert {o["type"] for o in only["objects"]} == {"indicator"}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"added_after": "yesterday"}, "added_after"),
        ({"added_after": "2026-02-30T00:00:00Z"}, "added_after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "99999999999999999999"}, "limit"),
        ({"next": "abc"}, "next"),
        ({"next": "99999999999999999999999"}, "next"),
    ],
)
def test_bad_parameters_are_400_in_the_taxii_error_shape(hub, alice, query, named):
    tvec = collection_of(hub, alice, "TVEC")
    for url in (tvec.objects_url, f"{tvec.url}manifest/"):
        response = requests.get(
            url,
            params=query,
            auth=("apikey", alice.account.api_key),
            headers={"Accept": TAXII},
            timeout=10,
        )
        assert response.status_code == 400, response.content
        body = response.json()
        assert body["http_status"] == "400"
        assert named in body["description"]


@pytest.mark.parametrize(
    "accept",
    [None, "application/json", "*/*", "application/taxii+json;version=2.0", "text/html"],
)
def test_any_other_media_type_is_406(hub, alice, accept):
    headers = {"Accept": accept} if accept else {}
    session = requests.Session()
    session.headers.pop("Accept", None)
    response = session.get(
        f"{hub.url}/taxii2/hashfed/collections/",
        auth=("apikey", alice.account.api_key),
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 406
    assert response.headers["Content-Type"] == TAXII
    assert response.json()["http_status"] == "406"


def test_taxii_without_a_version_is_2_1(hub, alice):
    response = requests.get(
        f"{hub.url}/taxii2/hashfed/",
        auth=("apikey", alice.account.api_key),
        headers={"Accept": "application/taxii+json"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == TAXII


def test_unknown_object_and_unsupported_method(hub, alice):
    tvec = collection_of(hub, alice, "TVEC")
    key = alice.account.api_key
    for object_id in ("indicator--00000000-0000-5000-8000-000000000000", "nonsense"):
        response = requests.get(
            f"{tvec.objects_url}{object_id}/",
            auth=("apikey", key),
            headers={"Accept": TAXII},
            timeout=10,
        )
        assert response.status_code == 404
        assert response.json()["http_status"] == "404"
    posted = requests.post(
        tvec.objects_url,
        auth=("apikey", key),
        headers={"Accept": TAXII, "Content-Type": TAXII},
        data="{}",
        timeout=10,
    )
    assert posted.status_code == 405
    assert posted.json()["http_status"] == "405"


def test_a_peer_hub_sees_only_banks_shared_with_peers(hub, cast):
    shared = set(Bank.objects.filter(peer_shareable=True).values_list("name", flat=True))
    seen = {c.title for c in server(hub, cast["southern-hub/peer"]).api_roots[0].collections}
    assert seen == shared


def test_a_granted_bank_becomes_visible_once_granted(hub, cast):
    lakeside = Organisation.objects.get(slug="lakeside")
    csam = Bank.objects.get(name="CSAM")
    grants.grant(organisation=lakeside, permission="hashbank.read_bank", obj=csam)
    titles = {c.title for c in server(hub, cast["lakeside/admin"]).api_roots[0].collections}
    assert "CSAM" in titles


def test_the_system_check_validates_every_signal_types_indicator_with_stix2(monkeypatch):
    from taxii import checks, stix

    assert checks.signal_types_have_stix_patterns() == []
    monkeypatch.delitem(stix.FILE_HASH_NAMES, "pdq")
    assert [e.id for e in checks.signal_types_have_stix_patterns()] == ["taxii.E001"]
    monkeypatch.setitem(stix.FILE_HASH_NAMES, "pdq", "'SHA-256'")
    monkeypatch.setitem(checks.SAMPLE_VALUES, "pdq", "0" * 63)
    assert [e.id for e in checks.signal_types_have_stix_patterns()] == ["taxii.E002"]


def test_a_read_only_key_reads_and_a_key_in_the_query_is_refused(hub, alice):
    from accounts.audit import AuditContext
    from accounts.services import api_key_issue

    _, raw = api_key_issue(
        organisation=alice.org,
        name="taxii feed",
        role="viewer",
        scope="read",
        expires_at=None,
        context=AuditContext.system(),
    )
    read_only = Server(f"{hub.url}/taxii2/", user="feed", password=raw)
    assert {c.title for c in read_only.api_roots[0].collections} >= {"TVEC", "CSAM"}
    url = f"{hub.url}/taxii2/hashfed/collections/"
    leaked = requests.get(url, params={"key": raw}, headers={"Accept": TAXII}, timeout=10)
    assert leaked.status_code == 400
    assert leaked.json()["error_code"] == "api_key_in_query"


def test_the_first_page_may_hold_the_identity_alone(hub, alice):
    listed("TVEC", 2)
    tvec = collection_of(hub, alice, "TVEC")
    first = tvec.get_objects(limit=1)
    assert [o["type"] for o in first["objects"]] == ["identity"]
    assert first["next"] == "-1"
    rest = objects_of_from(tvec, first["next"], 1)
    assert [o["type"] for o in rest] == ["indicator", "indicator"]


def test_the_documented_client_program_reads_the_feed(hub, alice):
    import re
    import subprocess
    import sys
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "interop.md").read_text()
    section = doc.split("### Reading the feed with taxii2-client", 1)[1]
    program = re.findall(r"^```python\n(.*?)^```$", section, flags=re.M | re.S)[0]
    signals = listed("TVEC", 3)
    removed(signals[0])
    result = subprocess.run(
        [sys.executable, "-c", program, hub.url, alice.account.api_key],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {"bank": "TVEC", "indicators": 3, "revoked": 1} in lines
    assert "CSAM" in {line["bank"] for line in lines}


def test_an_indicator_is_what_its_entry_recorded_not_a_later_unlogged_state(hub, alice):
    signal = listed("TVEC", 1, labels=["tvec-glorification"])[0]
    Signal.objects.filter(pk=signal.pk).update(confidence=0.9, status=SignalStatus.DISPUTED)
    tvec = collection_of(hub, alice, "TVEC")
    [indicator] = [o for o in objects_of(tvec, 10) if o["type"] == "indicator"]
    assert indicator["confidence"] == 50
    assert indicator["x_hashfed_status"] == "active"
    assert indicator["labels"] == ["tvec-glorification"]


def test_the_periodic_task_indexes_indicator_ids_where_it_stopped(hub, alice):
    listed("TVEC", 3)
    index_indicator_ids()
    tvec_bank = Bank.objects.get(name="TVEC")
    assert IndicatorId.objects.filter(bank=tvec_bank).count() == 3
    mark = IndexedUpTo.objects.get(bank=tvec_bank).sequence
    [signal] = listed("TVEC", 1)
    removed(signal)
    index_indicator_ids()
    # Only what was appended since is read: a removal adds no id, the new listing one.
    assert IndicatorId.objects.filter(bank=tvec_bank).count() == 4
    assert IndexedUpTo.objects.get(bank=tvec_bank).sequence > mark
    # A lookup then finds every id without indexing again.
    tvec = collection_of(hub, alice, "TVEC")
    for found in IndicatorId.objects.filter(bank=tvec_bank):
        assert tvec.get_object(f"indicator--{found.uuid}")["objects"][0]["id"].endswith(
            str(found.uuid)
        )


def test_an_incident_shows_until_the_retention_policy_erases_it(hub, alice):
    [signal] = listed("TVEC", 1)
    signal.incident = "harbour-crisis"
    signal.save()
    [entry] = changelog_append(changes=[Change(signal=signal, op=ChangeOp.UPDATE)])
    tvec = collection_of(hub, alice, "TVEC")
    [indicator] = [o for o in objects_of(tvec, 100) if o["type"] == "indicator"]
    assert indicator["x_hashfed_incident"] == "harbour-crisis"
    assert erase_disclosures(context=AuditContext.system(), sequences=[entry.sequence]) == 1
    [indicator] = [o for o in objects_of(tvec, 100) if o["type"] == "indicator"]
    assert "x_hashfed_incident" not in indicator
    assert "harbour-crisis" not in json.dumps(tvec.get_object(indicator["id"]))


def updated(signal: Signal, **changes) -> None:
    for name, value in changes.items():
        setattr(signal, name, value)
    signal.updated_at = timezone.now()
    signal.save()
    changelog_append(changes=[Change(signal=signal, op=ChangeOp.UPDATE)])


def three_versions(hub, actor) -> tuple[Collection, Signal, list[dict]]:
    """A TVEC signal added, then disputed, then removed: one indicator with three
    versions, each as one entry left it, oldest first."""
    [signal] = listed("TVEC", 1)
    updated(signal, status=SignalStatus.DISPUTED)
    removed(signal)
    tvec = collection_of(hub, actor, "TVEC")
    versions = [o for o in objects_of(tvec, 100, version="all") if o["type"] == "indicator"]
    return tvec, signal, versions


def test_match_version_selects_the_first_last_all_or_a_given_version(hub, alice):
    tvec, _, versions = three_versions(hub, alice)
    assert len(versions) == 3
    assert len({v["id"] for v in versions}) == 1
    assert [v["x_hashfed_status"] for v in versions] == ["active", "disputed", "removed"]
    assert versions[0]["modified"] < versions[1]["modified"] < versions[2]["modified"]
    assert {v["created"] for v in versions} == {versions[0]["modified"]}
    assert [v.get("revoked", False) for v in versions] == [False, False, True]
    for version in versions:
        stix2.parse(version, allow_custom=True)

    def indicators(**filters):
        return [o for o in objects_of(tvec, 100, **filters) if o["type"] == "indicator"]

    # Without match[version], as with `last`: the latest version only.
    assert indicators() == indicators(version="last") == [versions[2]]
    assert indicators(version="first") == [versions[0]]
    assert indicators(version=["first", "last"]) == [versions[0], versions[2]]
    assert indicators(version=versions[1]["modified"]) == [versions[1]]
    assert indicators(version=[versions[1]["modified"], "first"]) == versions[:2]
    # A time no version has selects nothing; the identity's own version is its `modified`.
    assert indicators(version="2020-01-01T00:00:00Z") == []
    identity = tvec.get_objects(**{"type": "identity"})["objects"][0]
    assert tvec.get_objects(version=identity["modified"])["objects"] == [identity]
    manifest = tvec.get_manifest(version="all")["objects"]
    assert [m["version"] for m in manifest[1:]] == [v["modified"] for v in versions]


def test_all_versions_page_by_entry_without_skipping_or_repeating(hub, alice):
    signals = listed("HATE", 4)
    for signal in signals[:2]:
        updated(signal, confidence=0.8)
    hate = collection_of(hub, alice, "HATE")
    everything = objects_of(hate, 1000, version="all")
    paged = objects_of(hate, 2, version="all")
    assert paged == everything
    assert len(everything) == 1 + 4 + 2
    # The first versions of the updated signals are there with their old confidence.
    confidences = sorted(o["confidence"] for o in everything if o["type"] == "indicator")
    assert confidences == [50, 50, 50, 50, 80, 80]


def test_match_id_selects_objects_by_id(hub, alice):
    signals = listed("TVEC", 5)
    tvec = collection_of(hub, alice, "TVEC")
    objects = objects_of(tvec, 100)
    identity, indicators = objects[0], objects[1:]
    wanted = [indicators[1]["id"], indicators[3]["id"]]
    assert objects_of(tvec, 100, id=wanted) == [indicators[1], indicators[3]]
    assert objects_of(tvec, 1, id=wanted) == [indicators[1], indicators[3]]
    assert objects_of(tvec, 100, id=[identity["id"], wanted[0]]) == [identity, indicators[1]]
    unknown = "indicator--00000000-0000-5000-8000-000000000000"
    assert tvec.get_objects(id=[unknown, "nonsense"]) == {"more": False}
    manifest = tvec.get_manifest(id=wanted)["objects"]
    assert [m["id"] for m in manifest] == wanted
    # Each listing of a signal is its own indicator: match[id] tells them apart.
    removed(signals[1])
    updated(signals[1], status=SignalStatus.ACTIVE)
    again = [o for o in objects_of(tvec, 100) if o["type"] == "indicator"][-1]
    assert again["id"] != wanted[0]
    first_listing = objects_of(tvec, 100, id=wanted[0], version="all")
    assert [o["id"] for o in first_listing] == [wanted[0], wanted[0]]
    assert first_listing[-1]["revoked"] is True
    assert objects_of(tvec, 100, id=again["id"], version="all") == [again]


def test_match_spec_version_serves_2_1_only(hub, alice):
    listed("TVEC", 2)
    tvec = collection_of(hub, alice, "TVEC")
    assert len(tvec.get_objects(spec_version="2.1")["objects"]) == 3
    assert len(tvec.get_objects(spec_version=["2.0", "2.1"])["objects"]) == 3
    assert tvec.get_objects(spec_version="2.0") == {"more": False}
    assert tvec.get_manifest(spec_version="2.0") == {"more": False}


def test_one_object_and_its_versions(hub, alice):
    tvec, _, versions = three_versions(hub, alice)
    object_id = versions[0]["id"]
    assert tvec.get_object(object_id)["objects"] == [versions[2]]
    assert tvec.get_object(object_id, version="first")["objects"] == [versions[0]]
    assert tvec.get_object(object_id, version="all")["objects"] == versions
    paged = [
        o
        for page in as_pages(tvec.get_object, 1, obj_id=object_id, version="all")
        for o in page["objects"]
    ]
    assert paged == versions
    assert tvec.get_object(object_id, spec_version="2.0") == {"more": False}
    assert tvec.object_versions(object_id) == {
        "more": False,
        "versions": [v["modified"] for v in versions],
    }
    first = tvec.object_versions(object_id, limit=2)
    assert first == {
        "more": True,
        "next": first["next"],
        "versions": [v["modified"] for v in versions[:2]],
    }
    assert tvec.object_versions(object_id, next=first["next"])["versions"] == [
        versions[2]["modified"]
    ]
    after = tvec.object_versions(object_id, added_after=versions[0]["modified"])
    assert after["versions"] == [v["modified"] for v in versions[1:]]
    identity = tvec.get_objects(**{"type": "identity"})["objects"][0]
    assert tvec.object_versions(identity["id"])["versions"] == [identity["modified"]]


@pytest.mark.parametrize("suffix", ["", "versions/"])
def test_an_object_is_404_to_whoever_may_not_read_its_collection(hub, cast, suffix):
    [signal] = listed("CSAM", 1)
    csam = collection_of(hub, cast["northwind/admin"], "CSAM")
    [indicator] = [o for o in objects_of(csam, 10) if o["type"] == "indicator"]
    url = f"{csam.objects_url}{indicator['id']}/{suffix}"
    own = requests.get(
        url,
        auth=("apikey", cast["northwind/admin"].account.api_key),
        headers={"Accept": TAXII},
        timeout=10,
    )
    assert own.status_code == 200
    # Another organisation's key: the same answer as an unknown collection.
    other = requests.get(
        url,
        params={"match[version]": "all"},
        auth=("apikey", cast["lakeside/admin"].account.api_key),
        headers={"Accept": TAXII},
        timeout=10,
    )
    missing = requests.get(
        f"{hub.url}/taxii2/hashfed/collections/{'0' * 8}-0000-0000-0000-{'0' * 12}/objects/"
        f"{indicator['id']}/{suffix}",
        auth=("apikey", cast["lakeside/admin"].account.api_key),
        headers={"Accept": TAXII},
        timeout=10,
    )
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert signal.value not in other.text
    # A role without read access is refused before anything is looked up: the same answer
    # for this object as for one in a collection that does not exist.
    unknown = missing.url.replace(
        indicator["id"], "indicator--" + "0" * 8 + "-0000-5000-8000-" + "0" * 12
    )
    for label in ("ruritania-ctu/liaison", "open-harms-lab/researcher", "consortium/moderator"):
        answers = [
            requests.get(
                target,
                auth=("apikey", cast[label].account.api_key),
                headers={"Accept": TAXII},
                timeout=10,
            )
            for target in (url, missing.url, unknown)
        ]
        assert [a.status_code for a in answers] == [403, 403, 403]
        assert answers[0].json() == answers[1].json() == answers[2].json()
        assert signal.value not in answers[0].text


def test_an_object_of_another_collection_is_404_in_this_one(hub, alice):
    listed("TVEC", 1)
    listed("HATE", 1)
    tvec = collection_of(hub, alice, "TVEC")
    hate = collection_of(hub, alice, "HATE")
    [indicator] = [o for o in objects_of(hate, 10) if o["type"] == "indicator"]
    for suffix in ("", "versions/"):
        response = requests.get(
            f"{tvec.objects_url}{indicator['id']}/{suffix}",
            auth=("apikey", alice.account.api_key),
            headers={"Accept": TAXII},
            timeout=10,
        )
        assert response.status_code == 404, suffix
    assert tvec.get_objects(id=indicator["id"]) == {"more": False}


@pytest.mark.parametrize(
    "query", [{"match[version]": "yesterday"}, {"match[version]": "last,2026-02-30T00:00:00Z"}]
)
def test_a_bad_match_version_is_400_naming_it(hub, alice, query):
    listed("TVEC", 1)
    tvec = collection_of(hub, alice, "TVEC")
    [indicator] = [o for o in objects_of(tvec, 10) if o["type"] == "indicator"]
    for url in (tvec.objects_url, f"{tvec.url}manifest/", f"{tvec.objects_url}{indicator['id']}/"):
        response = requests.get(
            url,
            params=query,
            auth=("apikey", alice.account.api_key),
            headers={"Accept": TAXII},
            timeout=10,
        )
        assert response.status_code == 400, url
        assert "match[version]" in response.json()["description"]


def test_versions_are_stored_as_stix2_built_them_and_served_unchanged(hub, alice):
    [signal] = listed("TVEC", 1, labels=["tvec-glorification"])
    signal.incident = "harbour-crisis"
    signal.save()
    changelog_append(changes=[Change(signal=signal, op=ChangeOp.UPDATE)])
    tvec = collection_of(hub, alice, "TVEC")
    assert not StoredVersion.objects.exists()
    # A read builds the versions it serves and stores them; the task builds the rest.
    [latest] = [o for o in objects_of(tvec, 10) if o["type"] == "indicator"]
    assert StoredVersion.objects.count() == 1
    assert index_indicator_ids() >= 1
    assert StoredVersion.objects.count() == 2
    versions = [o for o in objects_of(tvec, 10, version="all") if o["type"] == "indicator"]
    assert versions[-1] == latest
    for version in versions:
        # Timestamps to the microsecond, as `modified` names a version.
        assert len(version["modified"]) == len("2026-01-01T00:00:00.000000Z")
        assert version["valid_from"] == version["created"]
        assert stix2.parse(version, allow_custom=True).id == version["id"]
    # The disclosed incident is served beside the stored version, never stored in it.
    stored = StoredVersion.objects.get(
        entry_id=max(StoredVersion.objects.values_list("entry_id", flat=True))
    )
    assert "harbour-crisis" not in stored.stix
    assert latest["x_hashfed_incident"] == "harbour-crisis"
    assert json.loads(stored.stix) == {k: v for k, v in latest.items() if k != "x_hashfed_incident"}
    # What is served is what is stored: the same text on every read.
    assert objects_of(tvec, 10, version="all")[1:] == versions


def test_an_indicator_stix2_refuses_is_never_built(hub, alice):
    from taxii import stix

    version = stix.IndicatorVersion(
        bank="TVEC",
        signal_type="md5",
        value="not-hex",
        labels=[],
        status="active",
        confidence=0.5,
        incident="",
        listing=0,
        created=timezone.now(),
        modified=timezone.now(),
    )
    with pytest.raises(stix2.exceptions.InvalidValueError, match="pattern"):
        stix.indicator_object(hub_id="00000000-0000-4000-8000-000000000000", version=version)
