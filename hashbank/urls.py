from django.urls import path

from hashbank import api

app_name = "hashbank"

urlpatterns = [
    path("labels/", api.LabelListApi.as_view(), name="label-list"),
    path("banks/", api.BankListApi.as_view(), name="bank-list"),
    path("submissions/", api.SubmissionListCreateApi.as_view(), name="submission-list"),
    path(
        "submissions/<uuid:submission_id>/",
        api.SubmissionDetailApi.as_view(),
        name="submission-detail",
    ),
    path(
        "submissions/<uuid:submission_id>/withdraw/",
        api.SubmissionWithdrawApi.as_view(),
        name="submission-withdraw",
    ),
    path("sync/", api.SyncApi.as_view(), name="sync"),
    path("sync/snapshots/", api.SnapshotListApi.as_view(), name="snapshot-list"),
    path(
        "sync/snapshots/<id:snapshot_id>/download/",
        api.SnapshotDownloadApi.as_view(),
        name="snapshot-download",
    ),
    path("signals/<id:signal_id>/", api.SignalDetailApi.as_view(), name="signal-detail"),
    path("signals/<id:signal_id>/opinion/", api.OpinionApi.as_view(), name="opinion"),
    path("lookup/", api.LookupApi.as_view(), name="lookup"),
    path("hash/", api.HostedHashApi.as_view(), name="hosted-hash"),
    path("disputes/", api.DisputeListCreateApi.as_view(), name="dispute-list"),
    path("disputes/<uuid:dispute_id>/", api.DisputeDetailApi.as_view(), name="dispute-detail"),
    path(
        "disputes/<uuid:dispute_id>/appeal/", api.DisputeAppealApi.as_view(), name="dispute-appeal"
    ),
]
