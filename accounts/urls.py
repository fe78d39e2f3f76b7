from django.urls import path

from accounts import api

app_name = "accounts"

urlpatterns = [
    path("me/", api.MeApi.as_view(), name="me"),
    path("organisation/members/", api.MembershipListApi.as_view(), name="membership-list"),
    path("api-keys/", api.ApiKeyListCreateApi.as_view(), name="apikey-list"),
    path("api-keys/<text:prefix>/", api.ApiKeyDetailApi.as_view(), name="apikey-detail"),
    path("api-keys/<text:prefix>/revoke/", api.ApiKeyRevokeApi.as_view(), name="apikey-revoke"),
    path("signing-keys/", api.SigningKeyListCreateApi.as_view(), name="signingkey-list"),
    path(
        "signing-keys/<text:key_id>/", api.SigningKeyDetailApi.as_view(), name="signingkey-detail"
    ),
    path(
        "signing-keys/<text:key_id>/revoke/",
        api.SigningKeyRevokeApi.as_view(),
        name="signingkey-revoke",
    ),
    path("audit-events/", api.AuditEventListApi.as_view(), name="auditevent-list"),
    path("hub/", api.HubIdentityApi.as_view(), name="hub-identity"),
]
