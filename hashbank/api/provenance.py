"""The member signatures behind listed hashes: the members' public keys, and the signed
envelopes change-log entries commit to (docs/signing.md, "Provenance")."""

from __future__ import annotations

import base64

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors as account_selectors
from accounts.api_base import HubApiView
from accounts.models import RevocationReason, SigningKey
from core.errors import NotFound
from core.pagination import Pagination, paginate
from hashbank import selectors
from hashbank.models import Submission
from hashbank.services.provenance import NOTE_ERASED_EXPLANATION


class PublishedKeyOutput(serializers.ModelSerializer):
    organisation = serializers.CharField(source="organisation.slug")
    public_key = serializers.SerializerMethodField(
        help_text="standard base64 of the raw 32-byte Ed25519 public key"
    )
    compromised = serializers.SerializerMethodField(
        help_text="revoked because the key was compromised: nothing it signed from "
        "`compromised_since` (or `revoked_at` when that is null) on is trusted"
    )

    class Meta:
        model = SigningKey
        fields = [
            "organisation",
            "key_id",
            "public_key",
            "valid_from",
            "valid_until",
            "created_at",
            "revoked_at",
            "revocation_reason",
            "compromised",
            "compromised_since",
        ]

    def get_public_key(self, key: SigningKey) -> str:
        return base64.b64encode(key.public_key_bytes).decode("ascii")

    def get_compromised(self, key: SigningKey) -> bool:
        return key.revocation_reason == RevocationReason.COMPROMISED


class PublishedKeyListApi(HubApiView):
    """Every member's Ed25519 signing keys, revoked ones included: what a member needs to
    verify the envelopes behind listed hashes. A signature made at `created_at` (the
    envelope's) is trustworthy when `valid_from <= created_at`, before `valid_until` if
    set, and, for a compromised key, before `compromised_since` (or `revoked_at`)."""

    actions = {"GET": "hashbank.keys.read"}
    pagination_class = Pagination

    @extend_schema(responses=PublishedKeyOutput(many=True))
    def get(self, request: Request) -> Response:
        return paginate(self, account_selectors.signing_keys_published(), PublishedKeyOutput)


class EnvelopeOutput(serializers.ModelSerializer):
    digest = serializers.CharField(source="envelope_digest")
    organisation = serializers.CharField(source="organisation.slug")
    key_id = serializers.CharField(source="signing_key.key_id")
    bank = serializers.CharField(source="bank.name")
    canonical_payload = serializers.SerializerMethodField(
        help_text="standard base64 of the RFC 8785 payload bytes the member signed; null once "
        "erased"
    )
    signature = serializers.CharField(help_text="standard base64 of the 64-byte signature")
    verifiable = serializers.SerializerMethodField(
        help_text="false once the payload was erased: the signature can no longer be checked"
    )
    erased_at = serializers.DateTimeField(source="note_erased_at", allow_null=True)
    explanation = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = [
            "digest",
            "organisation",
            "key_id",
            "bank",
            "canonical_payload",
            "signature",
            "verifiable",
            "erased_at",
            "explanation",
        ]

    def get_canonical_payload(self, submission: Submission) -> str | None:
        if submission.note_erased_at is not None:
            return None
        return base64.b64encode(bytes(submission.canonical_payload)).decode("ascii")

    def get_verifiable(self, submission: Submission) -> bool:
        return submission.note_erased_at is None

    def get_explanation(self, submission: Submission) -> str | None:
        return NOTE_ERASED_EXPLANATION if submission.note_erased_at is not None else None


class EnvelopeDetailApi(HubApiView):
    """The signed envelope with this envelope digest (docs/signing.md): one's own in any
    bank, or another member's behind a listed hash of a readable bank that shows its
    contributors. Anything else is 404, whether it exists or not."""

    actions = {"GET": "hashbank.envelope.read"}

    @extend_schema(responses=EnvelopeOutput)
    def get(self, request: Request, digest: str) -> Response:
        organisation = self.principal.organisation
        try:
            submission = selectors.envelope_readable(organisation=organisation, digest=digest)
        except NotFound:
            # One received from a peer hub, with `origin_hub` and the member's `public_key`
            # as the origin published it (docs/federation.md).
            return Response(
                selectors.received_envelope_readable(organisation=organisation, digest=digest)
            )
        return Response(EnvelopeOutput(submission).data)


class SubmissionEnvelopeApi(HubApiView):
    """The signed envelope of one of one's own submissions, by its id."""

    actions = {"GET": "hashbank.envelope.read"}

    @extend_schema(responses=EnvelopeOutput)
    def get(self, request: Request, submission_id: str) -> Response:
        submission = selectors.submission_of(
            organisation=self.principal.organisation, submission_id=submission_id
        )
        return Response(EnvelopeOutput(submission).data)
