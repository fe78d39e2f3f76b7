"""Every API endpoint, found from the URL resolver, refuses bad input with a 4xx in the
API's error shape: bodies that are too deep, hold a duplicate key, are not JSON or are too
large, and query or path parameters a database cannot hold (20-digit numbers, NUL, year 1).
Run on PostgreSQL too: it refuses NUL in text and integers beyond bigint where SQLite
does not."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from drf_spectacular.generators import SchemaGenerator

from accounts.permissions import is_granted
from core.api_base import ApiView
from core.api_input import PlainTextParser, StrictJSONParser
from core.routes import all_routes

BODY_METHODS = ("POST", "PUT", "PATCH")
_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
TWENTY_DIGITS = "99999999999999999999"


def api_routes():
    return [
        route
        for route in all_routes()
        if route.pattern.startswith("api/v1/")
        and isinstance(route.view, type)
        and issubclass(route.view, ApiView)
    ]


def body_operations() -> list[tuple[str, str]]:
    return [
        (route.pattern, method)
        for route in api_routes()
        for method in route.actions
        if method in BODY_METHODS
    ]


def get_operations() -> list[str]:
    return [route.pattern for route in api_routes() if "GET" in route.actions]


def url_for(pattern: str, value_for=None) -> str:
    """The route with every path parameter filled in (by default with a well-formed id that
    names nothing)."""

    def fill(match: re.Match) -> str:
        converter = match.group("converter") or "str"
        if value_for is not None:
            return value_for(converter)
        return {"uuid": str(uuid.uuid4()), "id": "1"}.get(converter, "x")

    return "/" + _PARAMETER.sub(fill, pattern)


def route_of(pattern: str):
    return next(route for route in api_routes() if route.pattern == pattern)


def actor_for(cast, action: str):
    """Someone allowed the action, so the request reaches the body and the parameters."""
    for actor in cast:
        org = actor.org
        if org.status == "active" and is_granted(action, kind=org.kind, role=actor.account.role):
            return actor
    pytest.fail(f"nobody in the cast may {action}")


def assert_error_shape(response, status: int | None = None, code: str | None = None) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    if status is not None:
        assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def takes_json(pattern: str) -> bool:
    view = route_of(pattern).view
    return any(isinstance(parser, StrictJSONParser) for parser in view().get_parsers())


def takes_text(pattern: str) -> bool:
    """A protocol whose body is text, not JSON (tlog-witness add-checkpoint)."""
    view = route_of(pattern).view
    return any(isinstance(parser, PlainTextParser) for parser in view().get_parsers())


def send(cast, pattern: str, method: str, body: bytes | str, content_type: str):
    actor = actor_for(cast, route_of(pattern).actions[method])
    return actor.client().generic(method, url_for(pattern), body, content_type=content_type)


def test_the_tables_below_cover_the_api():
    assert len(body_operations()) >= 10
    assert len(get_operations()) >= 15
    assert all(
        getattr(route.view, "parser_classes", None) is None
        or route.view.parser_classes in ([StrictJSONParser], [PlainTextParser])
        for route in api_routes()
        if route.view.__name__ != "HostedHashApi"
    )


@pytest.mark.parametrize(("pattern", "method"), body_operations())
def test_every_body_endpoint_refuses_json_nested_ten_thousand_deep(cast, pattern, method):
    response = send(cast, pattern, method, "[" * 10_000 + "]" * 10_000, "application/json")
    if takes_json(pattern):
        assert_error_shape(response, 400, "too_deep")
    else:
        assert_error_shape(response, 415)


@pytest.mark.parametrize(("pattern", "method"), body_operations())
def test_every_body_endpoint_refuses_a_duplicate_top_level_key(cast, pattern, method):
    response = send(cast, pattern, method, '{"name": "a", "name": "b"}', "application/json")
    if takes_json(pattern):
        error = assert_error_shape(response, 400, "duplicate_key")
        assert error["fields"]["name"][0]["code"] == "duplicate_key"
    else:
        assert_error_shape(response, 415)


@pytest.mark.parametrize(("pattern", "method"), body_operations())
def test_every_body_endpoint_refuses_a_body_that_is_not_json(cast, pattern, method):
    if takes_text(pattern):
        response = send(cast, pattern, method, '{"name": "a"}', "application/json")
    else:
        response = send(cast, pattern, method, "name=a", "text/plain")
    assert_error_shape(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(("pattern", "method"), body_operations())
def test_every_body_endpoint_refuses_a_body_over_the_size_limit(cast, settings, pattern, method):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"name": "x" * 20_000})
    if takes_json(pattern):
        assert_error_shape(send(cast, pattern, method, body, "application/json"), 413)
    elif takes_text(pattern):
        response = send(cast, pattern, method, "x" * 20_000, "text/plain")
        assert_error_shape(response, 413, "request_too_large")
    else:
        boundary = "hashfedboundary"
        multipart = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="match"\r\n\r\n'
            + "x" * 20_000
            + f"\r\n--{boundary}--\r\n"
        )
        response = send(
            cast, pattern, method, multipart, f"multipart/form-data; boundary={boundary}"
        )
        assert_error_shape(response, 413, "request_too_large")


@pytest.mark.parametrize(("pattern", "method"), body_operations())
def test_every_body_endpoint_refuses_nul_in_a_string_naming_the_field(cast, pattern, method):
    if not takes_json(pattern):
        pytest.skip("not a JSON endpoint")
    body = json.dumps({"outer": [{"name": "a\u0000b"}]})
    error = assert_error_shape(send(cast, pattern, method, body, "application/json"), 400)
    assert error["code"] == "invalid_character"
    assert error["fields"]["outer.0.name"][0]["code"] == "invalid_character"


def declared_query_parameters() -> list[tuple[str, str]]:
    """Each GET operation with each query parameter its schema declares, plus the
    pagination parameters every list shares."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    cases = []
    for pattern in get_operations():
        path = url_for(pattern, value_for=lambda converter: "{x}")
        declared = {
            name
            for schema_path, operations in schema["paths"].items()
            if re.sub(r"\{[^}]+\}", "{x}", schema_path) == path
            for parameter in operations.get("get", {}).get("parameters", [])
            if parameter["in"] == "query"
            for name in [parameter["name"]]
        }
        cases.extend((pattern, name) for name in sorted(declared | {"limit", "offset"}))
    return cases


def test_the_declared_parameters_include_each_filter():
    names = {name for _, name in declared_query_parameters()}
    assert {"cursor", "review_state", "period_start", "overdue", "state", "slug"} <= names


@pytest.mark.parametrize(
    "value", [TWENTY_DIGITS, "-" + TWENTY_DIGITS, "a\x00b", "\x00", "0001-01-01T00:00:00Z", "\x07"]
)
@pytest.mark.parametrize(("pattern", "name"), declared_query_parameters())
def test_every_query_parameter_refuses_what_the_database_cannot_hold(cast, pattern, name, value):
    actor = actor_for(cast, route_of(pattern).actions["GET"])
    response = actor.client().get(url_for(pattern), {name: value})
    if response.status_code == 200:
        return
    error = assert_error_shape(response)
    if response.status_code == 400:
        assert name in error["fields"], error
    if "\x00" in value and "<" not in pattern:
        # Every declared parameter is typed: NUL fits none of them.
        assert response.status_code == 400


def test_a_twenty_digit_sync_cursor_is_refused_naming_it(alice):
    response = alice.client().get("/api/v1/sync/", {"cursor": TWENTY_DIGITS})
    error = assert_error_shape(response, 400)
    assert error["fields"]["cursor"][0]["code"] == "max_value"


def test_a_year_one_statistics_period_is_refused_naming_it(cast):
    researcher = cast["open-harms-lab/researcher"]
    response = researcher.client().get(
        "/api/v1/statistics/", {"period_start": "0001-01-01T00:00:00Z"}
    )
    error = assert_error_shape(response, 400)
    assert "period_start" in error["fields"]
    response = researcher.client().get(
        "/api/v1/statistics/", {"period_end": "0001-01-02T00:00:00Z"}
    )
    assert "period_end" in assert_error_shape(response, 400)["fields"]


def test_a_nul_in_a_filter_is_refused_naming_it(cast):
    researcher = cast["open-harms-lab/researcher"]
    response = researcher.client().get("/api/v1/statistics/", {"bank": "TV\x00EC"})
    error = assert_error_shape(response, 400)
    assert "bank" in error["fields"]


@pytest.mark.parametrize("pattern", [p for p in get_operations() if "<" in p])
def test_every_path_parameter_beyond_what_the_database_holds_is_not_found(cast, pattern):
    actor = actor_for(cast, route_of(pattern).actions["GET"])
    values = {"id": TWENTY_DIGITS, "uuid": TWENTY_DIGITS, "text": "a%00b", "str": "a%00b"}
    response = actor.client().get(url_for(pattern, value_for=lambda c: values.get(c, "%00")))
    assert_error_shape(response, 404, "not_found")


def test_a_multipart_body_with_too_many_fields_gets_the_api_error(alice, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    response = alice.client().post(
        "/api/v1/hash/", {f"f{n}": "1" for n in range(20)}, format="multipart"
    )
    assert_error_shape(response, 413, "too_many_fields")


def test_too_many_query_fields_get_the_api_error(alice, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    response = alice.client().get("/api/v1/sync/?" + "&".join(f"f{n}=1" for n in range(20)))
    assert_error_shape(response, 413, "too_many_fields")


def test_a_lone_surrogate_in_a_submission_is_refused_naming_the_field(alice):
    body = '{"submissions": [{"payload": {"note": "\\ud800"}, "signature": ""}]}'
    response = alice.client().post("/api/v1/submissions/", body, content_type="application/json")
    error = assert_error_shape(response, 400, "invalid_character")
    assert "submissions.0.payload.note" in error["fields"]


def test_the_schema_documents_the_body_errors_of_every_body_operation():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = [
        operation
        for operations in schema["paths"].values()
        for method, operation in operations.items()
        if method in ("post", "put", "patch")
    ]
    assert len(operations) >= 10
    for operation in operations:
        assert {"400", "413", "415"} <= set(operation["responses"]), operation["operationId"]
