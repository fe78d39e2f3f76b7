"""The accounts API: who am I, my organisation's people, API keys and signing keys."""

from __future__ import annotations

import base64

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import selectors, services
from accounts.api_base import HubApiView
from accounts.hub_identity import (
    hub_identity,
    hub_key_transitions,
    hub_keys_published,
    witness_key,
)
from accounts.models import (
    ApiKey,
    ApiKeyScope,
    AuditEvent,
    HubKeyStatus,
    Membership,
    RevocationReason,
    Role,
    SigningKey,
)
from accounts.permissions import HASH_BANK_FIREWALLED_KINDS, ROLE_ORDER_BY_KIND
from core.pagination import Pagination, paginate


class OrganisationOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    country = serializers.CharField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    tier = serializers.CharField(allow_null=True)


class MeApi(HubApiView):
    """Who the credentials belong to: organisation, role and, for an API key, its scope.

    Example: `GET /api/v1/me/` → `{"organisation": {"slug": "northwind", ...},
    "role": "analyst", "user": null, "api_key": {"prefix": "...", "scope": "read"}}`
    """

    actions = {"GET": "accounts.me.read"}

    class OutputSerializer(serializers.Serializer):
        organisation = OrganisationOutput()
        role = serializers.CharField()
        user = serializers.EmailField(allow_null=True)
        api_key = inline_serializer(
            "MeApiKey",
            {
                "prefix": serializers.CharField(),
                "scope": serializers.CharField(),
                "expires_at": serializers.DateTimeField(allow_null=True),
            },
            allow_null=True,
        )

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        p = self.principal
        data = {
            "organisation": p.organisation,
            "role": p.role,
            "user": p.user.email if p.user else None,
            "api_key": {
                "prefix": p.api_key.prefix,
                "scope": p.api_key.scope,
                "expires_at": p.api_key.expires_at,
            }
            if p.api_key
            else None,
        }
        return Response(self.OutputSerializer(data).data)


class MembershipListApi(HubApiView):
    """The people of the caller's organisation and their roles."""

    actions = {"GET": "accounts.membership.list"}
    pagination_class = Pagination

    class OutputSerializer(serializers.ModelSerializer):
        email = serializers.EmailField(source="user.email")
        full_name = serializers.CharField(source="user.full_name")

        class Meta:
            model = Membership
            fields = ["email", "full_name", "role", "created_at"]

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return paginate(
            self,
            selectors.memberships_of(organisation=self.principal.organisation),
            self.OutputSerializer,
        )


class ApiKeyOutput(serializers.ModelSerializer):
    state = serializers.CharField()
    created_by = serializers.EmailField(source="created_by.email", allow_null=True, default=None)

    class Meta:
        model = ApiKey
        fields = [
            "prefix",
            "name",
            "role",
            "scope",
            "state",
            "created_by",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]


class ApiKeyListCreateApi(HubApiView):
    """List the organisation's API keys, or issue one.

    `POST {"name": "sync job", "role": "analyst", "scope": "read", "expires_at": null}` →
    201 with `"key": "hf_…"`: the secret is in this response only and cannot be shown again.
    """

    actions = {"GET": "accounts.apikey.list", "POST": "accounts.apikey.issue"}
    pagination_class = Pagination

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        role = serializers.ChoiceField(
            choices=Role.choices,
            help_text="One of the roles of the caller's organisation kind, no higher than the "
            "caller's own (highest first): "
            + "; ".join(f"{kind}: {', '.join(roles)}" for kind, roles in ROLE_ORDER_BY_KIND.items())
            + ". A higher role is refused with 403 `above_own_role`.",
        )
        scope = serializers.ChoiceField(
            choices=ApiKeyScope.choices,
            help_text="`read_write` only from a person or a read-write key "
            "(403 `above_own_scope`).",
        )
        expires_at = serializers.DateTimeField(
            required=False,
            allow_null=True,
            help_text=f"At most {services.MAX_API_KEY_LIFETIME.days} days ahead. When the "
            "request is made with an expiring API key, required and no later than that key's "
            "own expiry (403 `beyond_own_expiry`).",
        )

    class CreatedSerializer(ApiKeyOutput):
        key = serializers.CharField()

        class Meta(ApiKeyOutput.Meta):
            fields = [*ApiKeyOutput.Meta.fields, "key"]

    @extend_schema(responses=ApiKeyOutput(many=True))
    def get(self, request: Request) -> Response:
        return paginate(
            self, selectors.api_keys_of(organisation=self.principal.organisation), ApiKeyOutput
        )

    @extend_schema(request=InputSerializer, responses={201: CreatedSerializer})
    def post(self, request: Request) -> Response:
        data = self.validated(self.InputSerializer, request.data)
        api_key, raw_key = services.api_key_issue(
            organisation=self.principal.organisation,
            name=data["name"],
            role=data["role"],
            scope=data["scope"],
            expires_at=data.get("expires_at"),
            issuer=self.principal,
            context=self.audit_context,
        )
        # Shown once: the raw key rides on the instance for the serializer, never stored.
        api_key.key = raw_key  # type: ignore[attr-defined]
        return Response(
            self.CreatedSerializer(api_key).data, status=201, headers={"Cache-Control": "no-store"}
        )


class ApiKeyDetailApi(HubApiView):
    actions = {"GET": "accounts.apikey.list"}

    @extend_schema(responses=ApiKeyOutput)
    def get(self, request: Request, prefix: str) -> Response:
        api_key = selectors.api_key_of(organisation=self.principal.organisation, prefix=prefix)
        return Response(ApiKeyOutput(api_key).data)


class ApiKeyRevokeApi(HubApiView):
    """Revoke a key: the next request made with it is refused."""

    actions = {"POST": "accounts.apikey.revoke"}

    @extend_schema(request=None, responses=ApiKeyOutput)
    def post(self, request: Request, prefix: str) -> Response:
        api_key = selectors.api_key_of(organisation=self.principal.organisation, prefix=prefix)
        api_key = services.api_key_revoke(api_key=api_key, context=self.audit_context)
        return Response(ApiKeyOutput(api_key).data)


class SigningKeyOutput(serializers.ModelSerializer):
    public_key = serializers.SerializerMethodField()
    state = serializers.CharField()

    class Meta:
        model = SigningKey
        fields = [
            "key_id",
            "public_key",
            "name",
            "state",
            "valid_from",
            "valid_until",
            "revoked_at",
            "revocation_reason",
            "compromised_since",
            "created_at",
        ]

    def get_public_key(self, key: SigningKey) -> str:
        return base64.b64encode(key.public_key_bytes).decode("ascii")


class SigningKeyListCreateApi(HubApiView):
    """List the organisation's Ed25519 signing keys, or register one.

    `POST {"public_key": "<PEM or base64 of the raw 32 bytes>", "name": "2026 key",
    "valid_from": "2026-01-01T00:00:00Z", "valid_until": null}` → 201 with its `key_id`.
    """

    actions = {"GET": "accounts.signingkey.list", "POST": "accounts.signingkey.register"}
    error_statuses = {"POST": (409,)}
    pagination_class = Pagination

    class InputSerializer(serializers.Serializer):
        public_key = serializers.CharField(max_length=1000)
        name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        valid_from = serializers.DateTimeField(required=False, allow_null=True)
        valid_until = serializers.DateTimeField(
            required=False,
            allow_null=True,
            help_text="When the request is made with an expiring API key, required and no "
            "later than that key's own expiry (403 `beyond_own_expiry`).",
        )

    @extend_schema(responses=SigningKeyOutput(many=True))
    def get(self, request: Request) -> Response:
        return paginate(
            self,
            selectors.signing_keys_of(organisation=self.principal.organisation),
            SigningKeyOutput,
        )

    @extend_schema(request=InputSerializer, responses={201: SigningKeyOutput})
    def post(self, request: Request) -> Response:
        data = self.validated(self.InputSerializer, request.data)
        key = services.signing_key_register(
            organisation=self.principal.organisation,
            public_key=data["public_key"],
            name=data["name"],
            valid_from=data.get("valid_from"),
            valid_until=data.get("valid_until"),
            issuer=self.principal,
            context=self.audit_context,
        )
        return Response(SigningKeyOutput(key).data, status=201)


class SigningKeyDetailApi(HubApiView):
    actions = {"GET": "accounts.signingkey.list"}

    @extend_schema(responses=SigningKeyOutput)
    def get(self, request: Request, key_id: str) -> Response:
        key = selectors.signing_key_of(organisation=self.principal.organisation, key_id=key_id)
        return Response(SigningKeyOutput(key).data)


class SigningKeyRevokeApi(HubApiView):
    """Revoke a signing key: `{"reason": "superseded" | "retired" | "compromised",
    "compromised_since": "<time>"}` (the last only for a compromise)."""

    actions = {"POST": "accounts.signingkey.revoke"}
    error_statuses = {"POST": (409,)}

    class InputSerializer(serializers.Serializer):
        reason = serializers.ChoiceField(choices=RevocationReason.choices)
        compromised_since = serializers.DateTimeField(required=False, allow_null=True)

    @extend_schema(request=InputSerializer, responses=SigningKeyOutput)
    def post(self, request: Request, key_id: str) -> Response:
        key = selectors.signing_key_of(organisation=self.principal.organisation, key_id=key_id)
        data = self.validated(self.InputSerializer, request.data)
        key = services.signing_key_revoke(
            signing_key=key,
            reason=data["reason"],
            compromised_since=data.get("compromised_since"),
            context=self.audit_context,
        )
        return Response(SigningKeyOutput(key).data)


class AuditEventListApi(HubApiView):
    """The audit trail of the caller's own organisation, newest first.

    Authorities and researchers get their events without `sequence` and `entry_hash`:
    both are positions in the hub-wide chain, and the gaps between one's own events would
    count everybody else's activity, the hash bank's included."""

    actions = {"GET": "accounts.audit.list"}
    pagination_class = Pagination

    class OutputSerializer(serializers.ModelSerializer):
        # Not in the events authorities and researchers read (FirewalledOutputSerializer).
        sequence = serializers.IntegerField(
            required=False, help_text="Position in the hub-wide chain; platforms and staff only."
        )
        entry_hash = serializers.CharField(
            required=False, help_text="The chain hash of this entry; platforms and staff only."
        )

        class Meta:
            model = AuditEvent
            fields = [
                "sequence",
                "occurred_at",
                "action",
                "outcome",
                "actor_email",
                "api_key_prefix",
                "target_type",
                "target_id",
                "target_repr",
                "ip_address",
                "detail",
                "entry_hash",
            ]

    class FirewalledOutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = AuditEvent
            fields = [
                "occurred_at",
                "action",
                "outcome",
                "actor_email",
                "api_key_prefix",
                "target_type",
                "target_id",
                "target_repr",
                "ip_address",
                "detail",
            ]

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        organisation = self.principal.organisation
        firewalled = organisation.kind in HASH_BANK_FIREWALLED_KINDS
        return paginate(
            self,
            selectors.audit_events_of(organisation=organisation),
            self.FirewalledOutputSerializer if firewalled else self.OutputSerializer,
        )


class HubIdentityApi(HubApiView):
    """The hub's origin and Ed25519 public keys, to verify what the hub signs.
    Served at `/.well-known/hashfed` and `/api/v1/hub/`. `key_id`, `public_key` and
    `note_verifier_key` are the current key's; `keys` lists the current key, the next key
    during a rotation (it signs beside the current one) and the retired keys (they sign
    nothing more), each with its C2SP verifier key for the signed checkpoints;
    `key_transitions` the statements, oldest first, by which each key named the next one
    (a member that pinned an earlier key follows them to the key in use).
    `witness_verifier_key` is the C2SP cosignature key (type 0x04) with which this hub
    cosigns the checkpoints of the peer hubs it follows (docs/federation-witnessing.md)."""

    actions = {"GET": "hub.meta.read"}
    authentication_classes: list = []

    @extend_schema(
        responses=inline_serializer(
            "HubIdentity",
            {
                "origin": serializers.CharField(),
                "key_id": serializers.CharField(),
                "public_key": serializers.CharField(),
                "algorithm": serializers.CharField(),
                "api": serializers.CharField(),
                "note_verifier_key": serializers.CharField(),
                "witness_verifier_key": serializers.CharField(
                    help_text="The key this hub cosigns its peers' checkpoints with: "
                    "<name>+<key id>+<base64(0x04 || public key)>."
                ),
                "keys": serializers.ListField(
                    child=inline_serializer(
                        "HubKey",
                        {
                            "key_id": serializers.CharField(),
                            "public_key": serializers.CharField(),
                            "note_verifier_key": serializers.CharField(),
                            "status": serializers.ChoiceField(choices=HubKeyStatus.values),
                            "valid_from": serializers.DateTimeField(
                                help_text="When the key began signing: its rotation's begin, "
                                "or for the hub's first key when the hub's identity was "
                                "created."
                            ),
                            "valid_until": serializers.DateTimeField(
                                allow_null=True, help_text="When it was retired; null if not."
                            ),
                        },
                    )
                ),
                "key_transitions": serializers.ListField(
                    help_text="Every key-transition statement, oldest first: the old key "
                    "names the new one, signed by both (docs/transparency-log.md).",
                    child=inline_serializer(
                        "HubKeyTransition",
                        {
                            "old_key_id": serializers.CharField(),
                            "new_key_id": serializers.CharField(),
                            "issued_at": serializers.DateTimeField(),
                            "note": serializers.CharField(
                                help_text="The C2SP signed note, signed by the old key "
                                "then the new key."
                            ),
                        },
                    ),
                ),
            },
        )
    )
    def get(self, request: Request) -> Response:
        identity = hub_identity()
        field = serializers.DateTimeField()
        return Response(
            {
                "origin": identity.origin,
                "key_id": identity.key_id,
                "public_key": identity.public_key_b64,
                "algorithm": "ed25519",
                "api": "/api/v1/",
                "note_verifier_key": identity.note_verifier_key,
                "witness_verifier_key": witness_key().verifier_key,
                "keys": [
                    {
                        "key_id": key.key_id,
                        "public_key": key.public_key_b64,
                        "note_verifier_key": key.note_verifier_key,
                        "status": key.status,
                        "valid_from": field.to_representation(key.valid_from),
                        "valid_until": field.to_representation(key.valid_until)
                        if key.valid_until
                        else None,
                    }
                    for key in hub_keys_published()
                ],
                "key_transitions": [
                    {
                        "old_key_id": transition.old_key_id,
                        "new_key_id": transition.new_key_id,
                        "issued_at": field.to_representation(transition.issued_at),
                        "note": transition.note,
                    }
                    for transition in hub_key_transitions()
                ],
            }
        )
