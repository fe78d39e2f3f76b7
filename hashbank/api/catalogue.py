"""The catalogue: the label taxonomy and the banks."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api_base import HubApiView
from hashbank import selectors
from hashbank.models import (
    Bank,
    Label,
)


class LabelListApi(HubApiView):
    """The label taxonomy: slug, name, category, severity, description."""

    actions = {"GET": "hashbank.label.list"}

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Label
            fields = [
                "slug",
                "name",
                "category",
                "severity",
                "description",
                "taxonomy_version",
                "dsa_category",
            ]

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(selectors.labels_active(), many=True).data)


class BankListApi(HubApiView):
    """The banks the caller may read, with whether it may contribute to each."""

    actions = {"GET": "hashbank.bank.list"}

    class OutputSerializer(serializers.ModelSerializer):
        may_contribute = serializers.SerializerMethodField()

        class Meta:
            model = Bank
            fields = [
                "name",
                "title",
                "purpose",
                "read_access",
                "contribute_access",
                "show_contributors",
                "may_contribute",
            ]

        def get_may_contribute(self, bank: Bank) -> bool:
            return bank.pk in self.context["contributable"]

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        org = self.principal.organisation
        contributable = set(
            selectors.banks_contributable_by(organisation=org).values_list("pk", flat=True)
        )
        banks = selectors.banks_readable_by(organisation=org)
        return Response(
            self.OutputSerializer(banks, many=True, context={"contributable": contributable}).data
        )
