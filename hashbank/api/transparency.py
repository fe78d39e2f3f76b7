"""The verifiable list: each bank's signed checkpoint and Merkle proofs against it
(docs/transparency-log.md)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import HubApiView
from core.api_input import QueryInteger, query_params
from core.errors import Invalid, NotFound
from hashbank import selectors
from hashbank.services import transparency
from hashfed_wire import tiles


class CheckpointApi(HubApiView):
    """The bank's latest checkpoint: a C2SP signed note (tlog-checkpoint) of the size and
    root hash of the bank's Merkle tree, signed with the hub key (both keys during a key
    rotation), followed by the cosignatures of the bank's witnesses. Issued now when none
    covers the tree's current size. A peer hub's configured witnesses may fetch it for the
    banks they witness."""

    actions = {"GET": "hashbank.log.read"}

    @extend_schema(responses={(200, "text/plain"): str})
    def get(self, request: Request, bank: str) -> HttpResponse:
        found = selectors.bank_log_visible(organisation=self.principal.organisation, name=bank)
        checkpoint = transparency.checkpoint_latest(found)
        return HttpResponse(
            transparency.checkpoint_note(checkpoint), content_type="text/plain; charset=utf-8"
        )


class CosignatureApi(HubApiView):
    """A witness's C2SP tlog-cosignature of one of the bank's checkpoints:
    `POST {"size": N, "root_hash": "<hex>", "cosignature": "— <name> <base64>"}`. The line
    must verify over the exact text of the checkpoint the hub issued at that size and root,
    by the key of an active witness of this bank that the caller's organisation runs; its
    time may be at most 60 seconds ahead of the hub's clock. 201 when stored, 200 when the
    witness had already cosigned this checkpoint (the first cosignature is kept)."""

    actions = {"POST": "hashbank.log.cosign"}

    class InputSerializer(serializers.Serializer):
        size = serializers.IntegerField(min_value=0)
        root_hash = serializers.RegexField(r"^[0-9a-f]{64}\Z", max_length=64)
        cosignature = serializers.CharField(max_length=400, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        bank = serializers.CharField()
        size = serializers.IntegerField()
        root_hash = serializers.CharField()
        witness = serializers.CharField()
        cosignature = serializers.CharField()
        signed_at = serializers.DateTimeField()

    @extend_schema(
        request=InputSerializer, responses={200: OutputSerializer, 201: OutputSerializer}
    )
    def post(self, request: Request, bank: str) -> Response:
        found = selectors.bank_log_visible(organisation=self.principal.organisation, name=bank)
        data = self.validated(self.InputSerializer, request.data)
        cosignature, created = transparency.cosignature_add(
            bank=found,
            organisation=self.principal.organisation,
            size=data["size"],
            root_hash=data["root_hash"],
            line=data["cosignature"],
            context=self.audit_context,
        )
        body = {
            "bank": found.name,
            "size": data["size"],
            "root_hash": data["root_hash"],
            "witness": cosignature.witness.name,
            "cosignature": cosignature.line,
            "signed_at": cosignature.signed_at,
        }
        return Response(
            self.OutputSerializer(body).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class InclusionProofApi(HubApiView):
    """`?index=I&size=N`: the RFC 9162 inclusion proof of the bank's entry I (its
    `bank_index`) in the bank's tree of N entries (default: the latest checkpoint's size;
    at most that). Or, instead of `index`, `leaf_hash=<hex>` (as certificate transparency's
    get-proof-by-hash): the proof of the first entry of the tree of N entries with that leaf
    hash, and its index; 404 if none has it. Hashes are hex."""

    actions = {"GET": "hashbank.log.read"}

    class InputSerializer(serializers.Serializer):
        index = QueryInteger(required=False, help_text="The entry's bank_index.")
        leaf_hash = serializers.RegexField(
            r"^[0-9a-fA-F]{64}\Z",
            max_length=64,
            required=False,
            help_text="Instead of index: the entry's RFC 6962 leaf hash, hex.",
        )
        size = QueryInteger(min_value=1, required=False)

    @extend_schema(
        parameters=[InputSerializer],
        responses=inline_serializer(
            "InclusionProof",
            {
                "index": serializers.IntegerField(),
                "size": serializers.IntegerField(),
                "leaf_hash": serializers.CharField(),
                "proof": serializers.ListField(child=serializers.CharField()),
            },
        ),
    )
    def get(self, request: Request, bank: str) -> Response:
        found = selectors.bank_readable(organisation=self.principal.organisation, name=bank)
        params = query_params(self.InputSerializer, request)
        index, leaf_hash = params.get("index"), params.get("leaf_hash")
        if index is None and leaf_hash is None:
            raise Invalid.for_field("index", "give index or leaf_hash")
        if index is not None and leaf_hash is not None:
            raise Invalid.for_field("leaf_hash", "give index or leaf_hash, not both")
        latest = transparency.checkpoint_latest(found)
        size = params.get("size", latest.size)
        if size > latest.size:
            raise Invalid.for_field(
                "size", f"size must be at most the latest checkpoint's size, {latest.size}"
            )
        if leaf_hash is not None:
            index = transparency.leaf_index_of(bank=found, leaf_hash=leaf_hash.lower(), size=size)
        if index is None:
            raise NotFound(f"no entry of the tree of size {size} has this leaf hash")
        if index >= size:
            raise Invalid.for_field("index", f"index must be below the tree size {size}")
        proof = transparency.inclusion_proof(bank=found, index=index, size=size)
        return Response(
            {
                "index": index,
                "size": size,
                "leaf_hash": transparency.leaf_hash_at(bank=found, index=index).hex(),
                "proof": [node.hex() for node in proof],
            }
        )


class ConsistencyProofApi(HubApiView):
    """`?from=M&to=N`: the RFC 9162 consistency proof from the bank's tree of M entries to
    its tree of N entries (default: the latest checkpoint's size; at most that). Hashes
    are hex. A peer hub's configured witnesses may fetch it for the banks they witness."""

    actions = {"GET": "hashbank.log.read"}

    # `from` is a Python keyword: the fields are declared by name.
    InputSerializer = type(
        "ConsistencyInput",
        (serializers.Serializer,),
        {"from": QueryInteger(), "to": QueryInteger(required=False)},
    )

    @extend_schema(
        parameters=[InputSerializer],
        responses=inline_serializer(
            "ConsistencyProof",
            {
                "from": serializers.IntegerField(),
                "to": serializers.IntegerField(),
                "proof": serializers.ListField(child=serializers.CharField()),
            },
        ),
    )
    def get(self, request: Request, bank: str) -> Response:
        found = selectors.bank_log_visible(organisation=self.principal.organisation, name=bank)
        params = query_params(self.InputSerializer, request)
        latest = transparency.checkpoint_latest(found)
        old, new = params["from"], params.get("to", latest.size)
        if new > latest.size:
            raise Invalid.for_field(
                "to", f"to must be at most the latest checkpoint's size, {latest.size}"
            )
        if old > new:
            raise Invalid.for_field("from", f"from must be at most to ({new})")
        proof = transparency.consistency_proof(bank=found, old=old, new=new)
        return Response({"from": old, "to": new, "proof": [node.hex() for node in proof]})


class TileApi(HubApiView):
    """C2SP tlog-tiles over the bank's tree as of its latest checkpoint:
    `tile/<L>/<N>[.p/<W>]` (hashes) and `tile/entries/<N>[.p/<W>]` (the entries, each as a
    big-endian uint16 length and its bytes). Full tiles never change and may be cached for
    good; a tile the tree does not have (yet) is 404."""

    actions = {"GET": "hashbank.log.read"}

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, bank: str, path: str) -> HttpResponse:
        found = selectors.bank_readable(organisation=self.principal.organisation, name=bank)
        try:
            tile = tiles.parse_tile_path(f"tile/{path}")
        except tiles.TileError:
            raise NotFound("no such tile") from None
        latest = transparency.checkpoint_latest(found)
        content = transparency.tile_content(bank=found, tile=tile, size=latest.size)
        if content is None:
            raise NotFound("no such tile")
        response = HttpResponse(content, content_type="application/octet-stream")
        response["Cache-Control"] = (
            "private, max-age=60" if tile.is_partial else "private, max-age=31536000, immutable"
        )
        return response
