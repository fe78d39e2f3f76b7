"""This hub's tlog-witness endpoint: peer hubs ask it to cosign their banks' checkpoints."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request

from accounts.api_base import HubApiView
from core.api_input import PlainTextParser
from core.api_schema import Error
from federation.peering import witnessing
from federation.peering.models import PeeringAgreement


class WitnessAddCheckpointApi(HubApiView):
    """C2SP tlog-witness add-checkpoint, with `/api/v1/witness` as the submission prefix.
    The body (`text/plain`) is `old <size>`, the consistency proof from that size (base64
    hashes, one a line), a blank line, then the signed checkpoint. Only a peer hub with a
    peering agreement may call it, for the logs of its own banks (origin
    `<its origin>/banks/<bank>`, signed with the key of the agreement). 200: this hub's
    cosignature line (its key is `witness_verifier_key` at /.well-known/hashfed); 409: the
    old size is not the size this hub last cosigned for the log (the body, `text/x.tlog.size`,
    is that size); 404: not a log this hub witnesses for the caller (another peer's, this
    hub's own, anything else); 403: not signed by the caller's key, or no active peering
    agreement; 422: the proof does not verify; 400: malformed. Nothing of this hub's own
    banks is read or told."""

    actions = {"POST": "federation.witness.add"}
    parser_classes = [PlainTextParser]
    error_statuses = {"POST": (404, 409, 422)}

    @extend_schema(
        request={"text/plain": OpenApiTypes.STR},
        responses={
            (200, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR, description="The cosignature line(s)."
            ),
            (409, "text/x.tlog.size"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The size of the checkpoint this hub last cosigned for the log.",
            ),
            403: OpenApiResponse(
                Error,
                description="`checkpoint_refused`: the checkpoint is not signed by the key of "
                "the caller's peering agreement, or the caller has no active agreement; "
                "`permission_denied`: the caller is not a peer hub.",
            ),
            404: OpenApiResponse(
                Error,
                description="`unknown_log`: the checkpoint's origin is not a log this hub "
                "witnesses for the caller (not one of its banks).",
            ),
            422: OpenApiResponse(
                Error, description="`bad_proof`: the consistency proof does not verify."
            ),
        },
    )
    def post(self, request: Request) -> HttpResponse:
        # The body's type and size are checked first (415, 413), as on every endpoint.
        body = request.data if isinstance(request.data, bytes) else b""
        agreement = PeeringAgreement.objects.filter(
            organisation=self.principal.organisation
        ).first()
        if agreement is None:
            raise witnessing.WitnessRefused("your organisation has no peering agreement here")
        parsed = witnessing.add_checkpoint_parse(body)
        try:
            line = witnessing.witness_add_checkpoint(
                agreement, parsed.checkpoint, parsed.old_size, parsed.proof
            )
        except witnessing.SizeConflict as conflict:
            return HttpResponse(
                f"{conflict.current_size}\n",
                status=409,
                content_type=witnessing.SIZE_MEDIA_TYPE,
            )
        return HttpResponse(line, content_type="text/plain; charset=utf-8")
