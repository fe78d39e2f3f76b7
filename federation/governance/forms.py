"""Forms of the membership process (sign-up, application) and of the governance admin
pages. They check the shape of what was typed; services decide whether it is allowed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from accounts.models import (
    Tier,
    User,
)
from accounts.selectors import platforms_active
from federation.governance.models import (
    Criterion,
    EvidenceKind,
    MembershipApplication,
    PlatformSize,
    Vote,
)
from federation.governance.services import APPLICATION_FACTS


class SignupForm(forms.Form):
    full_name = forms.CharField(label=_("Your name"), max_length=200)
    email = forms.EmailField(label=_("Work email address"))
    # Passwords are never written back into the page: on an error the other fields keep
    # what was typed, and the two password fields are typed again.
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not only digits, not a common password."),
    )
    password_again = forms.CharField(
        label=_("Password again"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Type the same password, to be sure of it."),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("password") and data.get("password_again") not in (None, data["password"]):
            self.add_error("password_again", _("The two passwords differ."))
        elif data.get("password"):
            candidate = User(email=data.get("email", ""), full_name=data.get("full_name", ""))
            try:
                password_validation.validate_password(data["password"], candidate)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


YES_NO_CHOICES = [("", _("Not answered yet")), ("yes", _("Yes")), ("no", _("No"))]


class ApplicationForm(forms.Form):
    """The platform's facts and one group of evidence fields per criterion. Every field is
    optional here: a draft may be incomplete; completeness is checked on submission."""

    organisation_name = forms.CharField(label=_("Platform name"), max_length=200, required=False)
    website = forms.URLField(label=_("Website"), required=False, assume_scheme="https")
    country = forms.RegexField(
        label=_("Country (two-letter code, e.g. FR)"),
        regex=r"^[A-Za-z]{2}$",
        required=False,
        error_messages={"invalid": _("Use the two-letter ISO code of the country, e.g. FR.")},
    )
    description = forms.CharField(
        label=_("What the platform is and who uses it"), widget=forms.Textarea, required=False
    )
    size = forms.ChoiceField(
        label=_("Size"), choices=[("", "—"), *PlatformSize.choices], required=False
    )
    requested_tier = forms.ChoiceField(
        label=_("Membership you apply for"),
        choices=[(Tier.ASSOCIATE, _("Associate")), (Tier.FULL, _("Full"))],
    )
    contact_name = forms.CharField(label=_("Contact person"), max_length=200, required=False)
    contact_email = forms.EmailField(label=_("Contact email"), required=False)

    FACTS = APPLICATION_FACTS

    def __init__(self, *args: Any, criteria: list[Criterion], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.criteria = criteria
        for criterion in criteria:
            prefix = f"ev_{criterion.key}"
            if criterion.evidence_kind == EvidenceKind.URL:
                self.fields[f"{prefix}_url"] = forms.URLField(
                    label=_("Link"), required=False, max_length=500, assume_scheme="https"
                )
                self.fields[f"{prefix}_text"] = forms.CharField(
                    label=_("Notes (optional)"),
                    widget=forms.Textarea(attrs={"rows": 2}),
                    required=False,
                )
            elif criterion.evidence_kind == EvidenceKind.YES_NO:
                self.fields[f"{prefix}_answer"] = forms.ChoiceField(
                    label=_("Answer"), choices=YES_NO_CHOICES, required=False
                )
                self.fields[f"{prefix}_text"] = forms.CharField(
                    label=_("Explanation"),
                    widget=forms.Textarea(attrs={"rows": 3}),
                    required=False,
                )
            else:
                self.fields[f"{prefix}_text"] = forms.CharField(
                    label=_("Description"),
                    widget=forms.Textarea(attrs={"rows": 4}),
                    required=False,
                )

    @classmethod
    def initial_for(cls, application: MembershipApplication) -> dict[str, Any]:
        initial: dict[str, Any] = {name: getattr(application, name) for name in cls.FACTS}
        for evidence in application.evidence.select_related("criterion"):
            prefix = f"ev_{evidence.criterion.key}"
            initial[f"{prefix}_url"] = evidence.url
            initial[f"{prefix}_text"] = evidence.text
            answers = {True: "yes", False: "no"}
            initial[f"{prefix}_answer"] = (
                "" if evidence.answer is None else answers[evidence.answer]
            )
        return initial

    def criterion_groups(self) -> list[tuple[Criterion, list[forms.BoundField]]]:
        return [
            (c, [self[name] for name in self.fields if name.startswith(f"ev_{c.key}_")])
            for c in self.criteria
        ]

    def facts(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) or "" for name in self.FACTS}

    def evidence(self) -> dict[str, dict[str, Any]]:
        out = {}
        for criterion in self.criteria:
            prefix = f"ev_{criterion.key}"
            answer = self.cleaned_data.get(f"{prefix}_answer") or ""
            out[criterion.key] = {
                "url": self.cleaned_data.get(f"{prefix}_url") or "",
                "text": self.cleaned_data.get(f"{prefix}_text") or "",
                "answer": {"yes": True, "no": False}.get(answer),
            }
        return out

    def field_for_missing(self, missing_field: str) -> str | None:
        """The form field a missing item of the service points at (for the error)."""
        if missing_field in self.fields:
            return missing_field
        if missing_field.startswith("criterion-"):
            key = missing_field.removeprefix("criterion-")
            for suffix in ("url", "answer", "text"):
                if f"ev_{key}_{suffix}" in self.fields:
                    return f"ev_{key}_{suffix}"
        return None


class MessageForm(forms.Form):
    body = forms.CharField(label=_("Your message"), widget=forms.Textarea(attrs={"rows": 5}))


# Admin -----------------------------------------------------------------------------------


class DecisionForm(forms.Form):
    APPROVE_FULL = "approve_full"
    APPROVE_ASSOCIATE = "approve_associate"
    APPROVE_PROBATION = "approve_probation"
    REQUEST_INFORMATION = "request_information"
    REJECT = "reject"

    decision = forms.ChoiceField(
        choices=[
            (APPROVE_FULL, "Approve as a full member"),
            (APPROVE_ASSOCIATE, "Approve as an associate member"),
            (APPROVE_PROBATION, "Approve on probation (needs a mentor)"),
            (REQUEST_INFORMATION, "Request information from the applicant"),
            (REJECT, "Reject"),
        ],
        widget=forms.RadioSelect,
    )
    message = forms.CharField(
        label="Reasons / message to the applicant",
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        help_text="Sent to the applicant. Required to reject or to request information.",
    )
    mentor_user = forms.ModelChoiceField(
        label="Mentor (staff person)",
        queryset=User.objects.filter(is_staff=True, is_active=True),
        required=False,
    )
    mentor_organisation = forms.ModelChoiceField(
        label="Mentor (volunteer member organisation)",
        queryset=platforms_active().filter(tier=Tier.FULL),
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("mentor_user") and data.get("mentor_organisation"):
            raise forms.ValidationError("Choose one mentor: a person or an organisation.")
        return data


class VoteForm(forms.Form):
    vote = forms.ChoiceField(choices=Vote.choices, widget=forms.RadioSelect)
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class NoteForm(forms.Form):
    body = forms.CharField(label="Staff note", widget=forms.Textarea(attrs={"rows": 3}))


class LifecycleForm(forms.Form):
    """Tier changes, suspension, reinstatement and offboarding all state their reasons."""

    decision = forms.ChoiceField(
        choices=[
            ("tier", "Move to another tier"),
            ("suspend", "Suspend"),
            ("reinstate", "Reinstate"),
            ("offboard", "Offboard"),
        ],
        widget=forms.RadioSelect,
    )
    tier = forms.ChoiceField(choices=[("", "—"), *Tier.choices], required=False)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))


class MentorAssignForm(forms.Form):
    mentor_user = DecisionForm.base_fields["mentor_user"]
    mentor_organisation = DecisionForm.base_fields["mentor_organisation"]
