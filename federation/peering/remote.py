"""Writes to a peer hub's API (posting a cosignature, forwarding a dispute), as this hub's
peer organisation there (the agreement's API key), through the outbound address policy
(core/outbound.py). Reads go through federation.peering.services.PeerApi."""

from __future__ import annotations

import http.client
import json
from typing import Any

from core.outbound import UnsafeUrl, outbound_check, outbound_post
from federation.peering.models import PeeringAgreement
from federation.peering.services import PULL_TIMEOUT, PeerUnavailable


def peer_post(
    agreement: PeeringAgreement, path: str, body: Any, *, expect: tuple[int, ...]
) -> tuple[int, Any]:
    """POST `body` as JSON to `path` (from `/api/v1/...`) at the peer hub. Returns the
    status and the JSON answer (None if the answer is not JSON). Raises PeerUnavailable when
    the peer cannot be reached or answers a status not in `expect`."""
    url = agreement.base_url.rstrip("/") + path
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "User-Agent": "hashfed-hub-peering/1",
    }
    if agreement.pull_credential:
        headers["Authorization"] = f"Bearer {agreement.pull_credential}"
    try:
        response = outbound_post(
            outbound_check(url),
            body=json.dumps(body).encode(),
            headers=headers,
            timeout=PULL_TIMEOUT,
        )
    except UnsafeUrl as exc:
        raise PeerUnavailable(f"the peer's address is refused: {exc}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise PeerUnavailable(f"POST {path}: unreachable ({exc})") from None
    if response.status not in expect:
        raise PeerUnavailable(f"POST {path}: {response.status} {response.body[:300]!r}")
    try:
        return response.status, json.loads(response.body)
    except ValueError:
        return response.status, None
