"""Reads of the help pages."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet

from core.errors import NotFound
from federation.complaints.models import HelpCountry, HelpKind, HelpResource


def help_countries() -> QuerySet[HelpCountry]:
    """The countries with at least one organisation to turn to."""
    return (
        HelpCountry.objects.filter(active=True)
        .annotate(listed=Count("resources", filter=Q(resources__active=True)))
        .filter(listed__gt=0)
    )


def help_country(code: str) -> tuple[HelpCountry, list[tuple[str, list[HelpResource]]]]:
    """A country and its organisations, by kind of help (in HelpKind's order)."""
    active = HelpResource.objects.filter(active=True)
    country = (
        help_countries()
        .prefetch_related(Prefetch("resources", queryset=active, to_attr="listed_resources"))
        .filter(code=code.lower())
        .first()
    )
    if country is None:
        raise NotFound("no help page for this country")
    by_kind = [
        (str(label), [r for r in country.listed_resources if r.kind == kind])
        for kind, label in HelpKind.choices
    ]
    return country, [(label, items) for label, items in by_kind if items]
