"""The OpenAPI schema says what the API answers: errors in the one error shape with the
statuses each operation can return, paged lists as their envelope, request bounds as the
serializers enforce them; and the API reference page works with no outside host."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders


@pytest.fixture
def schema(db, anonymous) -> dict:
    response = anonymous.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def response_ref(operation: dict, status: str) -> str:
    return operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]


def component(schema: dict, ref: str) -> dict:
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_the_error_shape_is_one_component(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = component(schema, error["properties"]["error"]["$ref"])
    assert set(detail["required"]) == {"code", "message", "fields"}


def test_every_operation_needing_credentials_documents_401_and_403(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if path in ("/.well-known/hashfed", "/api/v1/hub/"):
                assert not [s for s in operation["responses"] if s.startswith("4")]
                continue
            for status in ("400", "401", "403"):
                assert response_ref(operation, status).endswith("/Error"), (path, method, status)


# Operations without an identifier in their path that answer 404 all the same: the
# tlog-witness endpoint, for an origin it does not follow (the log is named in the body).
NOT_FOUND_WITHOUT_IDENTIFIER = {"/api/v1/witness/add-checkpoint"}


def test_operations_on_an_identifier_document_404(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            expected = "{" in path or path in NOT_FOUND_WITHOUT_IDENTIFIER
            assert ("404" in operation["responses"]) == expected, (path, method)


def test_operations_with_a_body_document_400_413_and_415(schema):
    operation = schema["paths"]["/api/v1/api-keys/"]["post"]
    assert {"400", "413", "415"} <= set(operation["responses"])
    assert "413" not in schema["paths"]["/api/v1/api-keys/"]["get"]["responses"]


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/signing-keys/", "post"),
        ("/api/v1/signing-keys/{key_id}/revoke/", "post"),
        ("/api/v1/submissions/{submission_id}/withdraw/", "post"),
        ("/api/v1/disputes/", "post"),
        ("/api/v1/disputes/{dispute_id}/appeal/", "post"),
        ("/api/v1/lawful-requests/{request_id}/acknowledge/", "post"),
        ("/api/v1/lawful-requests/{request_id}/answer/", "post"),
        ("/api/v1/webhooks/{endpoint_id}/", "delete"),
    ],
)
def test_operations_whose_service_raises_conflict_document_409(schema, path, method):
    assert response_ref(schema["paths"][path][method], "409").endswith("/Error")


def test_rate_limited_operations_document_429_with_retry_after(schema):
    for path in ("/api/v1/lookup/", "/api/v1/hash/"):
        response = schema["paths"][path]["post"]["responses"]["429"]
        assert response["headers"]["Retry-After"]["required"] is True
    assert "429" not in schema["paths"]["/api/v1/sync/"]["get"]["responses"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/organisation/members/",
        "/api/v1/api-keys/",
        "/api/v1/signing-keys/",
        "/api/v1/audit-events/",
        "/api/v1/submissions/",
        "/api/v1/disputes/",
        "/api/v1/lawful-requests/",
        "/api/v1/incidents/",
        "/api/v1/webhooks/",
        "/api/v1/webhooks/{endpoint_id}/deliveries/",
    ],
)
def test_paged_lists_are_documented_as_their_envelope(schema, path):
    operation = schema["paths"][path]["get"]
    page = component(schema, response_ref(operation, "200"))
    assert page["type"] == "object"
    assert {"count", "results"} <= set(page["required"])
    assert page["properties"]["results"]["type"] == "array"
    parameters = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    assert parameters["limit"]["minimum"] == 1
    assert parameters["limit"]["maximum"] == 1000
    assert parameters["offset"]["minimum"] == 0


def test_a_paged_list_answers_in_the_documented_envelope(alice):
    body = alice.client().get("/api/v1/api-keys/").json()
    assert set(body) == {"count", "next", "previous", "results"}


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"), ("offset=-1", "offset")],
)
def test_a_page_parameter_out_of_range_is_refused_naming_it(alice, query, field):
    response = alice.client().get(f"/api/v1/api-keys/?{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_an_offset_beyond_a_bigint_is_refused_not_sent_to_the_database(alice):
    response = alice.client().get(f"/api/v1/audit-events/?offset={2**63}")
    assert response.status_code == 400
    assert "offset" in response.json()["error"]["fields"]


def test_api_key_roles_are_an_enum_naming_each_kinds_roles(schema):
    request = schema["components"]["schemas"]["ApiKeyListCreateInputRequest"]
    role = request["properties"]["role"]
    enum = component(schema, role["allOf"][0]["$ref"])["enum"]
    assert {"admin", "analyst", "viewer", "liaison", "researcher", "peer"} <= set(enum)
    assert "platform: admin, analyst, viewer" in role["description"]
    assert "At most 730 days ahead" in request["properties"]["expires_at"]["description"]


def test_batch_lengths_are_in_the_schema(schema):
    def body(path: str) -> dict:
        operation = schema["paths"][path]["post"]
        assert operation["requestBody"]["required"] is True
        return operation["requestBody"]["content"]["application/json"]["schema"]

    submissions = body("/api/v1/submissions/")
    assert submissions["properties"]["submissions"]["maxItems"] == 1000
    assert submissions["additionalProperties"] is False
    lookup = body("/api/v1/lookup/")
    assert lookup["properties"]["queries"]["maxItems"] == 10_000
    assert lookup["properties"]["max_distance"]["maximum"] == 63


def test_required_text_in_a_request_must_not_be_blank(schema):
    grounds = schema["components"]["schemas"]["DisputeListCreateInputRequest"]["properties"]
    assert grounds["grounds"]["minLength"] == 1


def test_a_number_where_text_is_expected_is_refused_naming_the_field(alice):
    response = alice.client().post(
        "/api/v1/api-keys/", {"name": 7, "role": "analyst", "scope": "read"}, format="json"
    )
    assert response.status_code == 400
    assert "name" in response.json()["error"]["fields"]


def test_the_api_reference_page_loads_nothing_from_another_host(db, anonymous):
    response = anonymous.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    assert not [s for s in sources if re.match(r"^(https?:)?//", s)], sources
    assert "cdn" not in html.lower()
    bundle = next(s for s in sources if s.endswith("redoc.standalone.js"))
    assert finders.find(bundle.removeprefix("/static/"))


def test_a_lawful_requests_subject_is_documented_with_its_lists(schema):
    subject = schema["components"]["schemas"]["LawfulRequestSubjectRequest"]["properties"]
    assert subject["urls"]["maxItems"] == 1000
    assert subject["hashes"]["items"]["$ref"].endswith("/LawfulRequestSubjectHashRequest")
