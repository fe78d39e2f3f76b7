"""The public complaint form and the forms of the triage actions in admin. They check the
shape of what was typed; services decide whether it is allowed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from federation.complaints.models import ComplaintOutcome
from hashbank.models import Signal


class ComplaintForm(forms.Form):
    email = forms.EmailField(
        label=_("Your email address"),
        help_text=_("We write to you there, and to no one else."),
    )
    platform = forms.CharField(
        label=_("Platform that removed or blocked your content"), max_length=200
    )
    removed_on = forms.DateField(
        label=_("When it was removed (or blocked)"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("The date, as best you know it: YYYY-MM-DD."),
    )
    content_url = forms.URLField(
        label=_("Web address of the content"),
        max_length=2000,
        required=False,
        assume_scheme="https",
    )
    content_description = forms.CharField(
        label=_("What was removed"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("A short description: a photo, a video, a post; what it showed or said."),
    )
    reason = forms.CharField(
        label=_("Why you think it was wrong"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    hash_value = forms.CharField(
        label=_("Hash, if the platform gave you one (optional)"),
        max_length=600,
        required=False,
    )
    consent = forms.BooleanField(
        label=_(
            "I agree that the consortium keeps what I wrote and my address to handle my "
            "complaint, and erases them after it is closed."
        ),
    )
    # The honeypot: hidden from people, filled in by form-filling robots.
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def clean_removed_on(self) -> dt.date:
        removed_on: dt.date = self.cleaned_data["removed_on"]
        if removed_on > timezone.localdate():
            raise forms.ValidationError(_("This date is in the future."))
        return removed_on

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            not data.get("content_url")
            and not data.get("content_description", "").strip()
            and "content_url" not in self.errors
        ):
            self.add_error(
                "content_description",
                _("Give the web address of the content, or describe it."),
            )
        return data

    @property
    def is_robot(self) -> bool:
        return bool(self.data.get("website"))


class ComplaintDisputeForm(forms.Form):
    signal = forms.IntegerField(
        label="Signal id",
        min_value=1,
        help_text="The number in the listed signal's admin address (Hash bank, Signals: "
        "search there for the hash the complaint gives).",
    )
    grounds = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text="The dispute's grounds, read by the signal's submitters: say why the listing "
        "is wrong, never who complained.",
    )

    def clean_signal(self) -> Signal:
        signal = Signal.objects.filter(pk=self.cleaned_data["signal"]).first()
        if signal is None:
            raise forms.ValidationError("No signal has this id.")
        return signal


class ComplaintAnswerForm(forms.Form):
    body = forms.CharField(
        label="Answer",
        widget=forms.Textarea(attrs={"rows": 10, "cols": 80}),
        help_text="Sent by email to the complainant alone, in their language, and kept.",
    )


class ComplaintCloseForm(forms.Form):
    outcome = forms.ChoiceField(choices=ComplaintOutcome.choices, widget=forms.RadioSelect)
