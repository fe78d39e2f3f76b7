from django.urls import path

from taxii import api

app_name = "taxii"

# TAXII 2.1 (docs/interop.md). API views with their declared action, answering in TAXII's
# media type and error shape; not in the API's OpenAPI document.
urlpatterns = [
    path("", api.DiscoveryApi.as_view(), name="discovery"),
    path(f"{api.API_ROOT}/", api.ApiRootApi.as_view(), name="api-root"),
    path(f"{api.API_ROOT}/collections/", api.CollectionListApi.as_view(), name="collection-list"),
    path(
        f"{api.API_ROOT}/collections/<text:collection_id>/",
        api.CollectionDetailApi.as_view(),
        name="collection-detail",
    ),
    path(
        f"{api.API_ROOT}/collections/<text:collection_id>/objects/",
        api.ObjectListApi.as_view(),
        name="object-list",
    ),
    path(
        f"{api.API_ROOT}/collections/<text:collection_id>/objects/<text:object_id>/",
        api.ObjectDetailApi.as_view(),
        name="object-detail",
    ),
    path(
        f"{api.API_ROOT}/collections/<text:collection_id>/objects/<text:object_id>/versions/",
        api.ObjectVersionsApi.as_view(),
        name="object-versions",
    ),
    path(
        f"{api.API_ROOT}/collections/<text:collection_id>/manifest/",
        api.ManifestApi.as_view(),
        name="manifest",
    ),
]
