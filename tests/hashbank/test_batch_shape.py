"""The batch endpoints refuse a malformed batch whole, naming the field, while a malformed
item is rejected in its own result."""

import pytest

from tests.conftest import random_pdq


def error(code, message, field):
    return {
        "error": {
            "code": code,
            "message": message,
            "fields": {field: [{"code": code, "message": message}]},
        }
    }


SUBMISSION_BODIES = [
    ([], error("invalid", 'send {"submissions": [...]}', "submissions")),
    (
        {"submissions": [{}], "zeta": 1, "alpha": 2},
        error("unknown_field", "unknown field", "alpha"),
    ),
    ({}, error("required", "a non-empty list of envelopes", "submissions")),
    ({"submissions": []}, error("required", "a non-empty list of envelopes", "submissions")),
    ({"submissions": {"a": 1}}, error("required", "a non-empty list of envelopes", "submissions")),
    (
        {"submissions": [{}] * 1001},
        error("batch_too_large", "at most 1000 submissions per request", "submissions"),
    ),
]

LOOKUP_BODIES = [
    ("text", error("invalid", 'send {"queries": [...]}', "queries")),
    ({"queries": [], "other": 1}, error("unknown_field", "unknown field", "other")),
    ({"max_distance": 3}, error("required", "a non-empty list of queries", "queries")),
    ({"queries": None}, error("required", "a non-empty list of queries", "queries")),
    (
        {"queries": [{"signal_type": "md5", "value": "0" * 32}], "max_distance": 64},
        error("invalid", "a whole number from 0 to 63", "max_distance"),
    ),
    (
        {"queries": [{"signal_type": "md5", "value": "0" * 32}], "max_distance": None},
        error("invalid", "a whole number from 0 to 63", "max_distance"),
    ),
]


@pytest.mark.parametrize(("body", "expected"), SUBMISSION_BODIES)
def test_a_malformed_submission_batch_is_refused_whole(alice, body, expected):
    response = alice.client().post("/api/v1/submissions/", body, format="json")
    assert (response.status_code, response.json()) == (400, expected)


@pytest.mark.parametrize(("body", "expected"), LOOKUP_BODIES)
def test_a_malformed_lookup_batch_is_refused_whole(alice, body, expected):
    response = alice.client().post("/api/v1/lookup/", body, format="json")
    assert (response.status_code, response.json()) == (400, expected)


def test_a_malformed_item_is_rejected_alone(alice):
    response = alice.client().post(
        "/api/v1/lookup/",
        {"queries": [{"signal_type": "pdq", "value": random_pdq()}, {"signal_type": "nope"}]},
        format="json",
    )
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["error"] is None
    assert second["error"]["field"] == "queries.1.signal_type"
    response = alice.client().post("/api/v1/submissions/", {"submissions": [{}, 3]}, format="json")
    assert response.status_code == 200
    assert response.json()["rejected"] == 2
