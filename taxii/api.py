"""TAXII 2.1 read access to the shared list (docs/interop.md, "TAXII 2.1").

Thin views over taxii.selectors. They speak TAXII rather than the hub's API dialect: the
media type `application/taxii+json;version=2.1` both ways (any other Accept is 406), and
errors in TAXII's error shape. Every one needs `hashbank.sync.read`, as the sync API does:
a collection is the same list, in STIX."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, ClassVar

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.urls import reverse
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api_base import HubApiView
from core.errors import ServiceError
from taxii import selectors, stix
from taxii.authentication import TaxiiApiKeyAuthentication
from taxii.stix import STIX_MEDIA_TYPE, timestamp

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
API_ROOT = "hashfed"
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000

_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    415: "Unsupported media type",
    429: "Too many requests",
}


class TaxiiRenderer(JSONRenderer):
    media_type = TAXII_MEDIA_TYPE
    format = "taxii"


class TaxiiNegotiation(BaseContentNegotiation):
    """Only TAXII 2.1's media type: `application/taxii+json`, with `version=2.1` or no
    version (which TAXII reads as the newest, 2.1). Anything else is 406."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> None:
        return None

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        for media_range in request.META.get("HTTP_ACCEPT", "").split(","):
            kind, *parameters = (part.strip() for part in media_range.split(";"))
            if kind.lower() != "application/taxii+json":
                continue
            params = dict(p.partition("=")[::2] for p in parameters)
            if params.get("version", "2.1").strip('"') == "2.1":
                return next(iter(renderers)), TAXII_MEDIA_TYPE
        raise exceptions.NotAcceptable(f"This endpoint serves only {TAXII_MEDIA_TYPE}.")


def taxii_error(status: int, description: str, code: str) -> dict[str, Any]:
    return {
        "title": _TITLES.get(status, "Error"),
        "description": description,
        "error_code": code,
        "http_status": str(status),
    }


def taxii_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, ServiceError):
        return Response(taxii_error(exc.status_code, exc.message, exc.code), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)
    if wait:
        headers["Retry-After"] = str(int(wait))
    detail = exc.detail
    code = detail.code if isinstance(detail, exceptions.ErrorDetail) else exc.default_code
    return Response(
        taxii_error(exc.status_code, str(detail), str(code)),
        status=exc.status_code,
        headers=headers,
    )


class TaxiiView(HubApiView):
    actions: ClassVar[dict[str, str]] = {"GET": "hashbank.sync.read"}
    authentication_classes = [TaxiiApiKeyAuthentication]
    renderer_classes = [TaxiiRenderer]
    content_negotiation_class = TaxiiNegotiation
    # Not part of the hub's OpenAPI document: TAXII 2.1 is its own specification.
    schema = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Negotiation, authentication and the declared action, but never a body: nothing
        # is written through TAXII, so any other method is 405 whatever it sends.
        APIView.initial(self, request, *args, **kwargs)

    def get_exception_handler(self):
        return taxii_exception_handler

    def absolute(self, name: str, **kwargs: str) -> str:
        return self.request.build_absolute_uri(reverse(f"taxii:{name}", kwargs=kwargs))


class DiscoveryApi(TaxiiView):
    def get(self, request: Request) -> Response:
        root = self.absolute("api-root")
        return Response(
            {
                "title": "Hashfed hub",
                "description": "The hub's shared hash list as STIX 2.1 indicators, one "
                "collection per bank the caller may read.",
                "default": root,
                "api_roots": [root],
            }
        )


class ApiRootApi(TaxiiView):
    def get(self, request: Request) -> Response:
        return Response(
            {
                "title": "Hashfed shared list",
                "description": "One read-only collection per bank the caller may read.",
                "versions": [TAXII_MEDIA_TYPE],
                # Nothing is written through TAXII.
                "max_content_length": 0,
            }
        )


def _collection(bank: Any) -> dict[str, Any]:
    return {
        "id": selectors.collection_id_of(bank),
        "title": bank.name,
        "description": bank.title,
        "can_read": True,
        "can_write": False,
        "media_types": [STIX_MEDIA_TYPE],
    }


class CollectionListApi(TaxiiView):
    def get(self, request: Request) -> Response:
        banks = selectors.collections_readable_by(organisation=self.principal.organisation)
        body: dict[str, Any] = {}
        if banks:
            body["collections"] = [_collection(bank) for bank in banks]
        return Response(body)


class CollectionDetailApi(TaxiiView):
    def get(self, request: Request, collection_id: str) -> Response:
        bank = selectors.collection_readable(
            organisation=self.principal.organisation, collection_id=collection_id
        )
        return Response(_collection(bank))


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
_NEXT = re.compile(r"-1|0|[1-9][0-9]{0,17}")
_LIMIT = re.compile(r"[0-9]{1,9}")
_TYPES = frozenset({"identity", "indicator"})


def _invalid(parameter: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError(f"{parameter}: {message}", code="invalid")


def _timestamp(parameter: str, text: str) -> dt.datetime:
    if not _TIMESTAMP.fullmatch(text):
        raise _invalid(
            parameter, "an RFC 3339 UTC timestamp is required, e.g. 2026-01-01T00:00:00.000000Z"
        )
    try:
        return stix.parse_timestamp(text)
    except ValueError:
        raise _invalid(parameter, "not a valid date and time") from None


def _listed(query: Any, parameter: str) -> frozenset[str] | None:
    """A match parameter's comma-separated values (TAXII: any of them matches)."""
    if parameter not in query:
        return None
    return frozenset(value.strip() for value in query[parameter].split(",") if value.strip())


def _versions(query: Any) -> selectors.Versions:
    """match[version]: `last` (the default), `first`, `all` or `modified` timestamps, any
    mixture of them."""
    values = _listed(query, "match[version]")
    if not values:
        return selectors.LATEST
    named = {"last", "first", "all"}
    return selectors.Versions(
        last="last" in values,
        first="first" in values,
        every="all" in values,
        at=frozenset(_timestamp("match[version]", v) for v in values - named),
    )


def _page_filters(request: Request) -> dict[str, Any]:
    """added_after, limit and next from the query; anything malformed is 400 naming the
    parameter."""
    query = request.query_params
    added_after = None
    if "added_after" in query:
        added_after = _timestamp("added_after", query["added_after"])
    limit = DEFAULT_LIMIT
    if "limit" in query:
        text = query["limit"]
        if not _LIMIT.fullmatch(text) or not 1 <= int(text) <= MAX_LIMIT:
            raise _invalid("limit", f"a whole number from 1 to {MAX_LIMIT} is required")
        limit = int(text)
    after = None
    if query.get("next"):
        if not _NEXT.fullmatch(query["next"]):
            raise _invalid("next", "not a value this server gave out in `next`")
        after = int(query["next"])
    return {
        "after": after,
        "added_after": added_after,
        "limit": limit,
        "spec_versions": _listed(query, "match[spec_version]"),
    }


def _collection_filters(request: Request) -> dict[str, Any]:
    """The page's filters and the match parameters of a collection's objects and manifest:
    match[id], match[type], match[version], match[spec_version]."""
    query = request.query_params
    types = _listed(query, "match[type]")
    return {
        **_page_filters(request),
        "ids": _listed(query, "match[id]"),
        "types": None if types is None else types & _TYPES,
        "versions": _versions(query),
    }


def _paged(page: selectors.Page, body: dict[str, Any]) -> Response:
    body["more"] = page.more
    if page.more:
        body["next"] = str(page.items[-1].position)
    headers = {}
    if page.items:
        headers["X-TAXII-Date-Added-First"] = timestamp(page.items[0].date_added)
        headers["X-TAXII-Date-Added-Last"] = timestamp(page.items[-1].date_added)
    return Response(body, headers=headers)


class ObjectListApi(TaxiiView):
    def get(self, request: Request, collection_id: str) -> Response:
        bank = selectors.collection_readable(
            organisation=self.principal.organisation, collection_id=collection_id
        )
        page = selectors.collection_page(bank=bank, **_collection_filters(request))
        body: dict[str, Any] = {}
        if page.items:
            body["objects"] = [item.object for item in page.items]
        return _paged(page, body)


class ManifestApi(TaxiiView):
    def get(self, request: Request, collection_id: str) -> Response:
        bank = selectors.collection_readable(
            organisation=self.principal.organisation, collection_id=collection_id
        )
        page = selectors.collection_page(bank=bank, **_collection_filters(request))
        body: dict[str, Any] = {}
        if page.items:
            body["objects"] = [
                {
                    "id": item.object["id"],
                    "date_added": timestamp(item.date_added),
                    "version": item.object["modified"],
                    "media_type": STIX_MEDIA_TYPE,
                }
                for item in page.items
            ]
        return _paged(page, body)


class ObjectDetailApi(TaxiiView):
    """One object's versions that match the filters (`GET .../objects/<id>/`); with
    `versions_only`, the list of their `modified` timestamps (`GET .../objects/<id>/versions/`)."""

    versions_only = False

    def get(self, request: Request, collection_id: str, object_id: str) -> Response:
        bank = selectors.collection_readable(
            organisation=self.principal.organisation, collection_id=collection_id
        )
        page = selectors.object_page(
            bank=bank,
            object_id=object_id,
            versions=selectors.EVERY if self.versions_only else _versions(request.query_params),
            **_page_filters(request),
        )
        body: dict[str, Any] = {}
        if page.items and self.versions_only:
            body["versions"] = [item.object["modified"] for item in page.items]
        elif page.items:
            body["objects"] = [item.object for item in page.items]
        return _paged(page, body)


class ObjectVersionsApi(ObjectDetailApi):
    versions_only = True
