"""Matching hashes against the list, and hashing an image or a video for a member."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import HubApiView
from core.errors import Invalid
from hashbank.api.batches import BatchInput, ItemError
from hashbank.services.lookup import MAX_LOOKUP_BATCH
from hashbank.signal_types import PDQ_DISTANCE_THRESHOLD, PDQ_MAX_DISTANCE_THRESHOLD

# The batch endpoints judge each item on its own (a malformed envelope or query is rejected
# in its own result, the others go on), so their schemas leave items open and close only
# the batch itself: its fields and its length.
LOOKUP_BATCH_SCHEMA = {
    "type": "object",
    "properties": {
        "queries": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_LOOKUP_BATCH,
            "items": {
                "description": '`{"signal_type": "pdq", "value": "<64 hex>", "max_distance": 31}`'
            },
        },
        "max_distance": {
            "type": "integer",
            "minimum": 0,
            "maximum": PDQ_MAX_DISTANCE_THRESHOLD,
            "default": PDQ_DISTANCE_THRESHOLD,
        },
    },
    "required": ["queries"],
    "additionalProperties": False,
}


class LookupItemResult(serializers.Serializer):
    index = serializers.IntegerField(min_value=0)
    signal_type = serializers.CharField(required=False)
    matches = serializers.ListField(child=serializers.DictField())
    error = ItemError(allow_null=True)


class LookupApi(HubApiView):
    """Look up a batch of up to 10,000 hashes.

    `POST {"queries": [{"signal_type": "pdq", "value": "<64 hex>", "max_distance": 31},
    {"signal_type": "md5", "value": "<32 hex>"}], "max_distance": 31}` → 200
    `{"results": [{"index": 0, "signal_type": "pdq", "matches": [{"signal": 17, "bank":
    "TVEC", "distance": 4, "labels": [...], "confidence": 0.67, "disputed": false, ...}],
    "error": null}]}`. PDQ matches within `max_distance` bits (default 31, at most 63);
    vpdq by the reference's rule (frames within `max_distance`, at least 80% of the query's
    frames matched; the match gives `query_match_percent` and `index_match_percent`); other
    types match exactly. A malformed query gets its own error naming the field.
    Each hash counts against the organisation's per-minute budget (429 with Retry-After).
    """

    actions = {"POST": "hashbank.lookup"}
    error_statuses = {"POST": (429,)}

    class InputSerializer(BatchInput):
        # The distance is checked by lookup_batch, which hosted hashing calls too.
        items_field = "queries"
        items_noun = "queries"
        queries = serializers.ListField()
        max_distance = serializers.IntegerField(default=PDQ_DISTANCE_THRESHOLD)

    @extend_schema(
        request={"application/json": LOOKUP_BATCH_SCHEMA},
        responses=inline_serializer(
            "LookupResults", {"results": serializers.ListField(child=LookupItemResult())}
        ),
    )
    def post(self, request: Request) -> Response:
        from hashbank.services.lookup import lookup_batch

        data = self.validated(self.InputSerializer, request.data)
        results = lookup_batch(
            organisation=self.principal.organisation,
            items=data["queries"],
            default_max_distance=data["max_distance"],
        )
        return Response({"results": results})


_MATCHES_FIELD = {
    "matches": serializers.ListField(
        child=serializers.DictField(), required=False, help_text="With `match`."
    )
}
HOSTED_IMAGE_RESULT = inline_serializer(
    "HostedHashImageResult",
    {
        "kind": serializers.ChoiceField(choices=["image"]),
        "pdq": serializers.CharField(),
        "pdq_quality": serializers.IntegerField(),
        "md5": serializers.CharField(),
        "sha256": serializers.CharField(),
        "format": serializers.CharField(),
        "width": serializers.IntegerField(),
        "height": serializers.IntegerField(),
        **_MATCHES_FIELD,
    },
)
HOSTED_VIDEO_RESULT = inline_serializer(
    "HostedHashVideoResult",
    {
        "kind": serializers.ChoiceField(choices=["video"]),
        "vpdq": serializers.CharField(
            help_text='JSON array of "pdq_hex,quality,timestamp_seconds", one per hashed frame'
        ),
        "frames": serializers.IntegerField(help_text="Frames in `vpdq`."),
        "md5": serializers.CharField(),
        "sha256": serializers.CharField(),
        "format": serializers.CharField(help_text="The container, by FFmpeg's name."),
        "width": serializers.IntegerField(),
        "height": serializers.IntegerField(),
        "duration": serializers.FloatField(help_text="Seconds of video decoded."),
        "frame_rate": serializers.FloatField(),
        **_MATCHES_FIELD,
    },
)


class HostedHashApi(HubApiView):
    """Hosted hashing: `POST` an image or a video as multipart field `file` (and `match=true`
    to also look its hashes up). An image → `{"kind": "image", "pdq", "pdq_quality", "md5",
    "sha256", "format", "width", "height"}`; a video (recognised by its content, never its
    name) → `{"kind": "video", "vpdq", "frames", "md5", "sha256", "format", "width",
    "height", "duration", "frame_rate"}`; with `match`, `"matches": [...]`. The bytes are
    hashed in memory and dropped: never stored, never logged, never written to disk. Limits:
    HOSTED_HASH_MAX_BYTES, HOSTED_HASH_MAX_PIXELS and, for videos,
    HOSTED_HASH_VIDEO_MAX_DURATION and HOSTED_HASH_VIDEO_MAX_FRAMES."""

    actions = {"POST": "hashbank.media.hash"}

    class MatchSerializer(serializers.Serializer):
        # A form field is text: "true" or "false", nothing looser.
        match = serializers.ChoiceField(choices=["true", "false"], default="false")

    error_statuses = {"POST": (429,)}

    def initialize_request(self, request, *args: Any, **kwargs: Any):
        from hashbank.hosted import InMemoryOnlyUploadHandler

        self.upload_handler = InMemoryOnlyUploadHandler(request)
        request.upload_handlers = [self.upload_handler]
        return super().initialize_request(request, *args, **kwargs)

    def get_parsers(self):
        from rest_framework.parsers import MultiPartParser

        return [MultiPartParser()]

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "HostedHashUpload",
                {
                    "file": serializers.FileField(),
                    "match": serializers.ChoiceField(choices=["true", "false"], required=False),
                },
            )
        },
        responses=PolymorphicProxySerializer(
            component_name="HostedHashResult",
            serializers={"image": HOSTED_IMAGE_RESULT, "video": HOSTED_VIDEO_RESULT},
            resource_type_field_name="kind",
        ),
    )
    def post(self, request: Request) -> Response:
        from hashbank.hosted import FileTooLarge, MediaHashes, hash_media
        from hashbank.services.lookup import lookup_batch

        upload = request.FILES.get("file")
        if getattr(self.upload_handler, "too_large", False):
            raise FileTooLarge.for_field("file", "the file is too large")
        if upload is None:
            raise Invalid.for_field(
                "file", "send the image or video as multipart field 'file'", code="required"
            )
        fields = request.data if isinstance(request.data, Mapping) else {}
        form = {k: v for k, v in fields.items() if k == "match"}
        match = self.validated(self.MatchSerializer, form)["match"] == "true"
        data = upload.read()
        upload.close()
        hashes = hash_media(data)
        del data
        body: dict[str, Any]
        if isinstance(hashes, MediaHashes):
            body = {
                "kind": "image",
                "pdq": hashes.pdq,
                "pdq_quality": hashes.pdq_quality,
                "md5": hashes.md5,
                "sha256": hashes.sha256,
                "format": hashes.format,
                "width": hashes.width,
                "height": hashes.height,
            }
            queries = [
                {"signal_type": "pdq", "value": hashes.pdq},
                {"signal_type": "md5", "value": hashes.md5},
                {"signal_type": "sha256", "value": hashes.sha256},
            ]
        else:
            body = {
                "kind": "video",
                "vpdq": hashes.vpdq,
                "frames": hashes.frames,
                "md5": hashes.md5,
                "sha256": hashes.sha256,
                "format": hashes.format,
                "width": hashes.width,
                "height": hashes.height,
                "duration": hashes.duration,
                "frame_rate": hashes.frame_rate,
            }
            queries = [
                {"signal_type": "vpdq", "value": hashes.vpdq},
                {"signal_type": "video_md5", "value": hashes.md5},
                {"signal_type": "md5", "value": hashes.md5},
                {"signal_type": "sha256", "value": hashes.sha256},
            ]
        if match:
            results = lookup_batch(organisation=self.principal.organisation, items=queries)
            body["matches"] = [m for r in results for m in r["matches"]]
        return Response(body)
