"""TAXII clients authenticate with the hub's API keys: as the API takes them
(`Authorization: Bearer hf_…`, or `Token hf_…` as taxii2-client's TokenAuth sends it), or
as HTTP Basic credentials whose password is the key (taxii2-client's `user=`/`password=`,
OpenCTI's TAXII feeds). The user name is not checked; the key alone says who calls."""

from __future__ import annotations

import base64
import binascii

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.authentication import ApiKeyAuthentication, refuse_keys_in_query
from accounts.models import ApiKey
from accounts.principal import Principal


class TaxiiApiKeyAuthentication(ApiKeyAuthentication):
    def authenticate(self, request: Request) -> tuple[Principal, ApiKey] | None:
        refuse_keys_in_query(request)
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() in ("bearer", "token"):
            return self.authenticate_key(request, credentials.strip())
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise exceptions.AuthenticationFailed(
                "Malformed Basic credentials.", code="invalid_api_key"
            ) from None
        _, colon, password = decoded.partition(":")
        if not colon:
            raise exceptions.AuthenticationFailed(
                "Malformed Basic credentials.", code="invalid_api_key"
            )
        return self.authenticate_key(request, password.strip())

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="hashfed-taxii", Bearer'
