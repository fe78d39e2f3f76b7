"""core.bulk_insert: COPY on PostgreSQL, bulk_create on SQLite; both must behave alike."""

import pytest
from django.db import IntegrityError, transaction

from core.bulk_insert import rows_insert, values_insert
from hashbank.models import Label

pytestmark = pytest.mark.django_db


def _label(slug: str) -> dict[str, object]:
    return {
        "slug": slug,
        "name": slug.title(),
        "category": "bench",
        "severity": 1,
        "description": "a label made by the test",
        "taxonomy_version": "t",
    }


def test_values_insert_returns_the_keys_of_the_rows_in_order_and_fills_defaults():
    ids = values_insert(Label, [_label("first-made"), _label("second-made")])

    made = {label.pk: label for label in Label.objects.filter(pk__in=ids)}
    assert [made[pk].slug for pk in ids] == ["first-made", "second-made"]
    # Fields left out take their model default.
    assert all(label.active and label.dsa_category == "" for label in made.values())


def test_rows_insert_sets_primary_keys_as_bulk_create_does():
    labels = rows_insert(Label, [Label(**_label("keyed-one")), Label(**_label("keyed-two"))])

    assert all(label.pk is not None and not label._state.adding for label in labels)
    assert Label.objects.get(pk=labels[1].pk).slug == "keyed-two"


def test_a_unique_violation_is_an_integrity_error_and_writes_nothing():
    values_insert(Label, [_label("already-here")])
    before = Label.objects.count()

    with pytest.raises(IntegrityError), transaction.atomic():
        values_insert(Label, [_label("would-be-new"), _label("already-here")])

    assert Label.objects.count() == before
    assert not Label.objects.filter(slug="would-be-new").exists()
