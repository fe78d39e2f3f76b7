"""Calls to a peer hub's API, as this hub's peer organisation there (the agreement's
pull credential), through the one outbound address policy (core/outbound.py)."""

from __future__ import annotations

import http.client
import json
from typing import Any

from core.outbound import (
    OutboundResponse,
    UnsafeUrl,
    outbound_check,
    outbound_get,
    outbound_post,
)
from federation.peering.models import PeeringAgreement

PEER_TIMEOUT = 20.0
MAX_PEER_RESPONSE = 4 * 1024 * 1024


class PeerCallFailed(Exception):
    """The peer hub could not be reached, or answered something other than expected; the
    message says which, to record in the row's last_error."""


def peer_call(
    agreement: PeeringAgreement,
    method: str,
    path: str,
    *,
    json_body: Any = None,
    expect: tuple[int, ...] = (200,),
) -> OutboundResponse:
    """`method` `path` (from `/api/v1/...`) at the peer hub. Raises PeerCallFailed unless the
    answer's status is one of `expect`."""
    url = agreement.base_url.rstrip("/") + path
    headers = {"Accept": "application/json, text/plain"}
    if agreement.pull_credential:
        headers["Authorization"] = f"Bearer {agreement.pull_credential}"
    body = None
    if json_body is not None:
        body = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    try:
        if method == "GET":
            response = outbound_get(
                url, headers=headers, timeout=PEER_TIMEOUT, max_bytes=MAX_PEER_RESPONSE
            )
        else:
            response = outbound_post(
                outbound_check(url), body=body or b"", headers=headers, timeout=PEER_TIMEOUT
            )
    except UnsafeUrl as error:
        raise PeerCallFailed(f"{url}: {error}") from None
    except (OSError, http.client.HTTPException) as error:
        raise PeerCallFailed(f"{method} {url}: unreachable ({error})") from None
    if response.status not in expect:
        raise PeerCallFailed(f"{method} {url} answered {response.status}: {response.body[:300]!r}")
    return response


def peer_json(response: OutboundResponse) -> Any:
    try:
        return json.loads(response.body)
    except ValueError:
        raise PeerCallFailed("the peer hub's answer is not JSON") from None
