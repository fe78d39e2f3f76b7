"""The hub's public HTTP API (``docs/api.md``), one method per call, over the standard
library's ``urllib``."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib import error as urllib_error
from urllib import parse as urllib_parse
from urllib import request as urllib_request

from hashfed_client.errors import HubError
from hashfed_client.transport import (
    RefuseRedirects,
    error_from_http_error,
    expect_object,
    is_int,
    json_reply,
    multipart_form,
    normalise_base_url,
    retry_after,
)
from hashfed_wire import hub_signatures

DEFAULT_HUB = "http://127.0.0.1:8000"
MAX_BATCH = 1000
MAX_LOOKUP_BATCH = 10_000
# The hub serves at most 10,000 entries a page (hashbank/api/sync.py MAX_SYNC_PAGE); fewer,
# larger pages mean fewer requests and consistency proofs for a verifying client.
MAX_SYNC_LIMIT = 10_000
USER_AGENT = "hashfed-client/1"
# Worth another try: rate limited, or a proxy in front of the hub that is restarting.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_WAIT = 60.0
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def sync_page_checked(page: object) -> dict[str, Any]:
    """A sync page's JSON, once it has entries (a list), next_cursor and head (integers);
    raises HubError(code="bad_response") if not."""
    if not (
        isinstance(page, dict)
        and isinstance(page.get("entries"), list)
        and is_int(page.get("next_cursor"))
        and is_int(page.get("head"))
    ):
        raise HubError(200, "bad_response", "a sync page needs entries, next_cursor, head")
    return page


class HubClient:
    """The hub's public HTTP API, one method per call.

    Sends the API key only as ``Authorization: Bearer <key>``, never in a URL; refuses
    redirects (so the key cannot be forwarded elsewhere). GET requests and submissions
    are retried up to ``attempts`` times on a network failure or a 429/502/503/504
    answer, honouring ``Retry-After``: submissions are safe to resend because the hub
    treats the same envelope id with the same content as a replay. Every method raises
    ``HubError``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = 60.0,
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        self.api_key = api_key
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self._sleep = sleep
        self._opener = urllib_request.build_opener(RefuseRedirects())

    @property
    def is_plain_http_to_remote(self) -> bool:
        """Whether the API key would cross a network unencrypted."""
        parts = urllib_parse.urlsplit(self.base_url)
        return parts.scheme == "http" and (parts.hostname or "") not in LOOPBACK_HOSTS

    def _request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        query: Mapping[str, object] | None = None,
        retry: bool = True,
        with_raw: bool = False,
        content: tuple[bytes, str] | None = None,
        parse: bool = True,
    ) -> Any:
        url = self.base_url + path
        if query:
            url += "?" + urllib_parse.urlencode(query)
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif content is not None:
            data, headers["Content-Type"] = content
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        attempts = self.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            # The scheme is http or https: normalise_base_url refuses anything else.
            req = urllib_request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
            try:
                with self._opener.open(req, timeout=self.timeout) as response:
                    raw = response.read()
                    if not parse:
                        return raw, response.headers
                    parsed = json_reply(response.status, raw, f"{method} {path}")
                    return (parsed, raw, response.headers) if with_raw else parsed
            except urllib_error.HTTPError as exc:
                failure = error_from_http_error(exc)
                wait = retry_after(exc.headers)
                if exc.code not in RETRYABLE_STATUSES:
                    raise failure from None
            except (urllib_error.URLError, OSError, http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", None) or exc
                failure = HubError(0, "unreachable", f"cannot reach {self.base_url}: {reason}")
                wait = None
            if attempt == attempts:
                raise failure
            self._sleep(min(MAX_RETRY_WAIT, wait if wait is not None else 2.0 ** (attempt - 1)))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def hub_identity(self) -> dict[str, Any]:
        """``GET /.well-known/hashfed``: ``{"origin", "key_id", "public_key", "algorithm"}``."""
        return expect_object(self._request("GET", "/.well-known/hashfed"), "hub identity")

    def me(self) -> dict[str, Any]:
        """``GET /api/v1/me/``: the caller, with ``organisation.slug`` and ``role``."""
        return expect_object(self._request("GET", "/api/v1/me/"), "/api/v1/me/")

    def register_signing_key(self, public_key_b64: str, name: str = "") -> dict[str, Any]:
        """Register an Ed25519 public key (base64 of the raw 32 bytes, or PEM) for the
        caller's organisation; returns the hub's record with its ``key_id``. Not retried:
        a second registration of the same key is a conflict, not a replay."""
        body = {"public_key": public_key_b64, "name": name}
        reply = self._request("POST", "/api/v1/signing-keys/", body, retry=False)
        return expect_object(reply, "signing key")

    def submit_in_batches(
        self, envelopes: Sequence[dict[str, Any]]
    ) -> Iterator[list[dict[str, Any]]]:
        """Post envelopes in batches of at most ``MAX_BATCH``, yielding each batch's
        results as soon as it is answered, with ``index`` counted from the start of
        ``envelopes`` (not of the batch). Raises HubError if a batch is refused as a
        whole; the batches yielded before stay submitted."""
        for start in range(0, len(envelopes), MAX_BATCH):
            batch = list(envelopes[start : start + MAX_BATCH])
            reply = self._request("POST", "/api/v1/submissions/", {"submissions": batch})
            results = reply.get("results") if isinstance(reply, dict) else None
            if not isinstance(results, list) or len(results) != len(batch):
                raise HubError(200, "bad_response", "the hub did not answer for every envelope")
            rebased = []
            for result in results:
                index = result.get("index") if isinstance(result, dict) else None
                if not isinstance(index, int) or not 0 <= index < len(batch):
                    raise HubError(200, "bad_response", f"result index {index!r} out of range")
                rebased.append({**result, "index": start + index})
            yield sorted(rebased, key=lambda result: result["index"])

    def submit(self, envelopes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Submit signed envelopes; one result per envelope, in order (see
        ``submit_in_batches``). Each result has ``index``, ``id``, ``status``
        (``accepted``, ``replayed`` or ``rejected``), ``review_state`` and ``error``."""
        return [result for batch in self.submit_in_batches(envelopes) for result in batch]

    def submission_inclusion(self, submission_id: str) -> dict[str, Any]:
        """``GET /api/v1/submissions/<id>/inclusion``: where one's own submission stands in
        its bank's verifiable log (``state``, ``receipt``, ``entry``, ``checkpoint``,
        ``proof``, ``promised_by``; docs/transparency-log.md)."""
        reply = self._request(
            "GET", f"/api/v1/submissions/{urllib_parse.quote(submission_id, safe='')}/inclusion"
        )
        return expect_object(reply, "inclusion")

    def sync(
        self,
        cursor: int = 0,
        limit: int = MAX_SYNC_LIMIT,
        *,
        hub_public_key: bytes | None = None,
        banks: Sequence[str] = (),
    ) -> dict[str, Any]:
        """One page of the change log after ``cursor``: ``{"entries", "next_cursor",
        "head", "own_opinions"}``, of the ``banks`` named (all readable ones if none).
        Raises HubError(code="bad_response") if the page lacks them. With
        ``hub_public_key`` (raw 32 bytes), the page's Ed25519 signature over its exact bytes
        must verify, or HubError(code="bad_signature") is raised."""
        query: dict[str, object] = {"cursor": cursor, "limit": limit}
        if banks:
            query["bank"] = ",".join(banks)
        if hub_public_key is None:
            page = self._request("GET", "/api/v1/sync/", query=query)
        else:
            page, raw, headers = self._request("GET", "/api/v1/sync/", query=query, with_raw=True)
            try:
                hub_signatures.verify_page(
                    hub_public_key, raw, headers.get(hub_signatures.SIGNATURE_HEADER)
                )
            except hub_signatures.HubSignatureError as exc:
                raise HubError(200, "bad_signature", str(exc)) from exc
        return sync_page_checked(page)

    def sync_raw(
        self, cursor: int, limit: int, *, hub_public_key: bytes | None = None
    ) -> tuple[bytes, str | None]:
        """One page of the change log as the exact bytes the hub sent, unparsed (the
        entries' bytes are the leaves of the banks' trees), with the hub's signature over
        them. With ``hub_public_key`` the signature must verify, or
        HubError(code="bad_signature") is raised."""
        query = {"cursor": cursor, "limit": limit}
        raw, headers = self._request("GET", "/api/v1/sync/", query=query, parse=False)
        signature = headers.get(hub_signatures.SIGNATURE_HEADER)
        if hub_public_key is not None:
            try:
                hub_signatures.verify_page(hub_public_key, raw, signature)
            except hub_signatures.HubSignatureError as exc:
                raise HubError(200, "bad_signature", str(exc)) from exc
        return raw, signature

    def checkpoint(self, bank: str) -> str:
        """``GET /api/v1/banks/<bank>/checkpoint``: the bank's latest signed checkpoint note."""
        raw, _ = self._request("GET", f"/api/v1/banks/{_quote(bank)}/checkpoint", parse=False)
        try:
            return str(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise HubError(200, "bad_response", "the checkpoint is not UTF-8") from None

    def consistency_proof(self, bank: str, old_size: int, new_size: int) -> list[bytes]:
        """``GET /api/v1/banks/<bank>/proof/consistency?from=&to=``: the proof's hashes."""
        reply = self._request(
            "GET",
            f"/api/v1/banks/{_quote(bank)}/proof/consistency",
            query={"from": old_size, "to": new_size},
        )
        proof = reply.get("proof") if isinstance(reply, dict) else None
        if (
            not isinstance(proof, list)
            or reply.get("from") != old_size
            or reply.get("to") != new_size
        ):
            raise HubError(200, "bad_response", "a consistency proof needs from, to and proof")
        try:
            return [bytes.fromhex(node) for node in proof]
        except (TypeError, ValueError):
            raise HubError(200, "bad_response", "a proof's hashes are hex") from None

    def snapshots(self) -> list[dict[str, Any]]:
        """``GET /api/v1/sync/snapshots/``: the newest signed snapshots of the banks the
        caller may read (``id``, ``bank``, ``up_to_sequence``, ``sha256``, ``signature``,
        ``download``...)."""
        reply = self._request("GET", "/api/v1/sync/snapshots/")
        if not isinstance(reply, list):
            raise HubError(200, "bad_response", "snapshots: expected a JSON list")
        return reply

    def snapshot_download(self, snapshot: Mapping[str, Any]) -> bytes:
        """A listed snapshot's file (``GET`` its ``download`` address), as the hub sent it:
        check it with ``snapshots.snapshot_verify`` before reading it."""
        path = snapshot.get("download")
        if not isinstance(path, str) or not path.startswith("/api/v1/sync/snapshots/"):
            raise HubError(200, "bad_response", "a snapshot's download is not the hub's")
        raw, _ = self._request("GET", path, parse=False)
        return bytes(raw)

    def lookup(
        self, queries: Sequence[Mapping[str, Any]], *, max_distance: int | None = None
    ) -> list[dict[str, Any]]:
        """``POST /api/v1/lookup/`` with at most ``MAX_LOOKUP_BATCH`` queries
        (``{"signal_type", "value", "max_distance"?}``); one result per query, in order:
        ``{"index", "signal_type", "matches", "error"}``. Safe to resend: it reads."""
        body: dict[str, Any] = {"queries": list(queries)}
        if max_distance is not None:
            body["max_distance"] = max_distance
        reply = self._request("POST", "/api/v1/lookup/", body)
        results = reply.get("results") if isinstance(reply, dict) else None
        if not isinstance(results, list) or len(results) != len(queries):
            raise HubError(200, "bad_response", "the hub did not answer for every query")
        indexes = [result.get("index") if isinstance(result, dict) else None for result in results]
        if indexes != list(range(len(queries))):
            raise HubError(200, "bad_response", "the hub answered the queries out of order")
        return results

    def hash_media(self, data: bytes, *, match: bool = False) -> dict[str, Any]:
        """``POST /api/v1/hash/``: the hub hashes an image or a video in memory and drops it;
        returns ``{"kind": "image", "pdq", "pdq_quality", "md5", "sha256", "format", "width",
        "height"}`` or ``{"kind": "video", "vpdq", "frames", "md5", "sha256", "format",
        "width", "height", "duration", "frame_rate"}``, with ``matches`` when ``match`` is
        set."""
        content = multipart_form({"match": "true" if match else "false"}, {"file": data})
        return expect_object(
            self._request("POST", "/api/v1/hash/", content=content), "hosted hashing"
        )

    def dispute_open(
        self,
        *,
        signal: int,
        kind: str,
        grounds: str,
        evidence: str = "",
        proposed_labels: Sequence[str] = (),
    ) -> dict[str, Any]:
        """``POST /api/v1/disputes/``: dispute a listed signal (``kind`` ``signal``: it
        should not be listed; ``labels``: its labels are wrong, with ``proposed_labels``).
        Returns the dispute with its ``id``, ``state`` and ``deadline``. Not retried: a
        second dispute of the same signal is a conflict."""
        body = {
            "signal": signal,
            "kind": kind,
            "grounds": grounds,
            "evidence": evidence,
            "proposed_labels": list(proposed_labels),
        }
        reply = self._request("POST", "/api/v1/disputes/", body, retry=False)
        return expect_object(reply, "dispute")

    def opinion_record(
        self, *, signal: int, kind: str, reasons: str = "", proposed_labels: Sequence[str] = ()
    ) -> dict[str, Any]:
        """``PUT /api/v1/signals/<signal>/opinion/``: the caller's opinion of a signal
        (``seen``, ``true_positive``, ``false_positive``, ``disagree_labels``), replacing
        any earlier one; returns ``{"kind", "signal"}``."""
        body = {"kind": kind, "reasons": reasons, "proposed_labels": list(proposed_labels)}
        reply = self._request("PUT", f"/api/v1/signals/{int(signal)}/opinion/", body)
        return expect_object(reply, "opinion")

    def sync_page_signatures(self, cursor: int) -> tuple[bytes, str | None, str | None]:
        """One entry's sync page after ``cursor``, as the exact bytes the hub sent, with
        its ``X-Hashfed-Signatures`` (every key that signs it) and ``X-Hashfed-Signature``
        (the current key's) headers, unchecked: what shows which key the hub signs with."""
        query = {"cursor": cursor, "limit": 1}
        raw, headers = self._request("GET", "/api/v1/sync/", query=query, parse=False)
        return (
            raw,
            headers.get(hub_signatures.SIGNATURES_HEADER),
            headers.get(hub_signatures.SIGNATURE_HEADER),
        )


def _quote(segment: str) -> str:
    return urllib_parse.quote(segment, safe="")
