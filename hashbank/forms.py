"""Forms of the moderation actions in admin: what staff must say before a change is made."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import Organisation, OrganisationKind
from hashbank import selectors
from hashbank.models import DisputeOutcome, Label


class RejectionForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
        help_text="Sent to the submitting member by email and kept in the audit trail.",
    )


class DisputeDecisionForm(forms.Form):
    outcome = forms.ChoiceField(choices=DisputeOutcome.choices, widget=forms.RadioSelect)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text="The written reasons every party receives; they are kept with the decision.",
    )
    labels = forms.ModelMultipleChoiceField(
        queryset=Label.objects.none(),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Relabel only: the labels the signal carries from now on.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Retired labels stay on old records but a decision may not hand them out again.
        labels = self.fields["labels"]
        assert isinstance(labels, forms.ModelMultipleChoiceField)
        labels.queryset = selectors.labels_active()

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        relabel = data.get("outcome") == DisputeOutcome.RELABELLED
        if relabel and not data.get("labels"):
            self.add_error("labels", "A relabel names the new labels.")
        if not relabel and data.get("labels"):
            # Only a relabel sets labels; accepting them here would silently drop them.
            self.add_error("labels", "Labels are set only when the outcome is a relabel.")
        return data

    def label_slugs(self) -> list[str]:
        return [label.slug for label in self.cleaned_data.get("labels") or []]


class OrganisationChoiceForm(forms.Form):
    # Bank grants only ever open a bank to member platforms (see banks_readable_by).
    organisation = forms.ModelChoiceField(
        queryset=Organisation.objects.filter(kind=OrganisationKind.PLATFORM).order_by("name")
    )
