"""A signal as members see it on the list: the change-log entry's exact bytes and a lookup
match's fields, pinned so the one function that builds both cannot drift."""

import datetime as dt

import pytest
import rfc8785

from hashbank.models import Signal
from hashbank.services.changelog import EnvelopeRef, entry_material
from hashbank.services.lookup import lookup_batch
from hashfed_wire import provenance
from tests.conftest import approve_all, random_pdq, submit

AT = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)


def listed_in_hate(cast, signer_for):
    value = random_pdq()
    for label in ("northwind/admin", "lakeside/admin"):
        signer = signer_for(label)
        submit(
            cast[label.split("/")[0] + "/analyst"],
            signer.envelope(
                bank="HATE", signal_type="pdq", value=value, labels=["hate-dehumanisation"]
            ),
        )
    approve_all()
    return Signal.objects.get(bank__name="HATE", value=value)


def test_an_entry_of_a_bank_showing_contributors_has_these_exact_bytes(cast, signer_for):
    signal = listed_in_hate(cast, signer_for)
    supporting = sorted(
        (s.envelope_digest, s.organisation.slug, s.signing_key.key_id)
        for s in signal.submissions.select_related("organisation", "signing_key")
    )
    assert len(supporting) == 2
    envelopes = ",".join(
        f'{{"digest":"{digest}","key_id":"{key_id}","organisation":"{org}"}}'
        for digest, org, key_id in supporting
    )
    expected = (
        '{"at":"2026-01-02T03:04:05.678901Z","bank":"HATE","confidence":0.75,'
        f'"contributors":["lakeside","northwind"],"envelopes":[{envelopes}],'
        '"incident_commitment":null,'
        '"labels":["hate-dehumanisation"],"op":"update","sequence":41,'
        f'"signal":{signal.pk},"signal_type":"pdq","status":"active","value":"{signal.value}"}}'
    ).encode()
    material = entry_material(signal, op="update", sequence=41, at=AT)
    assert rfc8785.dumps(material) == expected
    given = entry_material(
        signal,
        op="update",
        sequence=41,
        at=AT,
        labels=["hate-dehumanisation"],
        contributors=["northwind", "lakeside", "northwind"],
        envelopes=[EnvelopeRef(d, o, k) for d, o, k in reversed(supporting)],
    )
    assert rfc8785.dumps(given) == expected


def test_an_entry_of_a_signal_in_an_incident_commits_to_it_and_does_not_hold_it(cast, signer_for):
    signal = listed_in_hate(cast, signer_for)
    signal.incident = "crisis-2026"
    salt = "ab" * 32
    material = entry_material(signal, op="update", sequence=3, at=AT, incident_salt=salt)
    assert "incident" not in material
    assert material["incident_commitment"] == provenance.commitment("incident", salt, "crisis-2026")
    assert b"crisis-2026" not in rfc8785.dumps(material)
    with pytest.raises(ValueError, match="salt"):
        entry_material(signal, op="update", sequence=3, at=AT)


def test_a_remove_entry_says_why(cast, signer_for):
    signal = listed_in_hate(cast, signer_for)
    material = entry_material(signal, op="remove", sequence=7, at=AT, reason="withdrawn")
    assert material["reason"] == "withdrawn"
    assert set(material) == {
        "at",
        "bank",
        "confidence",
        "contributors",
        "incident_commitment",
        "labels",
        "op",
        "reason",
        "sequence",
        "signal",
        "signal_type",
        "status",
        "value",
    }


def test_a_lookup_match_gives_these_fields_in_this_order(cast, signer_for):
    signal = listed_in_hate(cast, signer_for)
    [result] = lookup_batch(
        organisation=cast["northwind/analyst"].org,
        items=[{"signal_type": "pdq", "value": signal.value}],
    )
    expected = {
        "signal": signal.pk,
        "bank": "HATE",
        "signal_type": "pdq",
        "value": signal.value,
        "distance": 0,
        "labels": ["hate-dehumanisation"],
        "confidence": 0.75,
        "disputed": False,
        "incident": None,
        "contributors": ["lakeside", "northwind"],
    }
    assert result["matches"] == [expected]
    assert list(result["matches"][0]) == list(expected), "the fields come in this order"
