from django.urls import path

from hashbank.api import (
    catalogue,
    disputes,
    lookup,
    provenance,
    signals,
    submissions,
    sync,
    transparency,
)

app_name = "hashbank"

urlpatterns = [
    path("labels/", catalogue.LabelListApi.as_view(), name="label-list"),
    path("banks/", catalogue.BankListApi.as_view(), name="bank-list"),
    path(
        "banks/<text:bank>/checkpoint",
        transparency.CheckpointApi.as_view(),
        name="bank-checkpoint",
    ),
    path(
        "banks/<text:bank>/checkpoint/cosignatures",
        transparency.CosignatureApi.as_view(),
        name="bank-checkpoint-cosignatures",
    ),
    path(
        "banks/<text:bank>/proof/inclusion",
        transparency.InclusionProofApi.as_view(),
        name="bank-proof-inclusion",
    ),
    path(
        "banks/<text:bank>/tile/<tilepath:path>", transparency.TileApi.as_view(), name="bank-tile"
    ),
    path(
        "banks/<text:bank>/proof/consistency",
        transparency.ConsistencyProofApi.as_view(),
        name="bank-proof-consistency",
    ),
    path("submissions/", submissions.SubmissionListCreateApi.as_view(), name="submission-list"),
    path(
        "submissions/<uuid:submission_id>/",
        submissions.SubmissionDetailApi.as_view(),
        name="submission-detail",
    ),
    path(
        "submissions/<uuid:submission_id>/envelope",
        provenance.SubmissionEnvelopeApi.as_view(),
        name="submission-envelope",
    ),
    path("keys/", provenance.PublishedKeyListApi.as_view(), name="published-key-list"),
    path("envelopes/<text:digest>", provenance.EnvelopeDetailApi.as_view(), name="envelope-detail"),
    path(
        "submissions/<uuid:submission_id>/inclusion",
        submissions.SubmissionInclusionApi.as_view(),
        name="submission-inclusion",
    ),
    path(
        "submissions/<uuid:submission_id>/withdraw/",
        submissions.SubmissionWithdrawApi.as_view(),
        name="submission-withdraw",
    ),
    path("sync/", sync.SyncApi.as_view(), name="sync"),
    path("sync/snapshots/", sync.SnapshotListApi.as_view(), name="snapshot-list"),
    path(
        "sync/snapshots/<id:snapshot_id>/download/",
        sync.SnapshotDownloadApi.as_view(),
        name="snapshot-download",
    ),
    path("signals/<id:signal_id>/", signals.SignalDetailApi.as_view(), name="signal-detail"),
    path("signals/<id:signal_id>/opinion/", signals.OpinionApi.as_view(), name="opinion"),
    path("lookup/", lookup.LookupApi.as_view(), name="lookup"),
    path("hash/", lookup.HostedHashApi.as_view(), name="hosted-hash"),
    path("disputes/", disputes.DisputeListCreateApi.as_view(), name="dispute-list"),
    path("disputes/<uuid:dispute_id>/", disputes.DisputeDetailApi.as_view(), name="dispute-detail"),
    path(
        "disputes/<uuid:dispute_id>/appeal/",
        disputes.DisputeAppealApi.as_view(),
        name="dispute-appeal",
    ),
]
