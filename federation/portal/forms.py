"""Forms of the portal's member pages: second factor, API and signing keys, lawful
requests. They check the shape of what was typed; services decide whether it is allowed."""

from __future__ import annotations

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_credentials
from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiKeyScope, RevocationReason
from federation.authorities.models import AnswerOutcome, LawfulRequestKind, Urgency
from hashbank import signal_types


class PortalLoginForm(AuthenticationForm):
    """Sign-in that tells a person whose email address is not confirmed yet so, once their
    password proved it is their account, instead of refusing them like a wrong password."""

    unconfirmed = False

    def clean(self) -> dict[str, Any]:
        from federation.governance.services import unconfirmed_account

        try:
            return super().clean()
        except forms.ValidationError:
            username = self.cleaned_data.get("username") or ""
            password = self.cleaned_data.get("password") or ""
            # Never a password check past a lockout: the hint would let guessing go on.
            allowed = self.request is not None and AxesProxyHandler.is_allowed(
                self.request, get_credentials(username=username)
            )
            if (
                allowed
                and username
                and password
                and unconfirmed_account(email=username, password=password)
            ):
                self.unconfirmed = True
                raise forms.ValidationError(
                    _(
                        "Your email address is not confirmed yet. Open the link we emailed "
                        "you, or have it sent again below."
                    ),
                    code="unconfirmed",
                ) from None
            raise


class SecondFactorTokenForm(forms.Form):
    token = forms.CharField(
        label=_("Code"),
        max_length=16,
        help_text=_("The 6-digit code your authenticator app shows, or one recovery code."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class ApiKeyIssueForm(forms.Form):
    name = forms.CharField(label=_("Name (what uses this key)"), max_length=100)
    role = forms.ChoiceField(label=_("Role the key acts with"))
    scope = forms.ChoiceField(label=_("Scope"), choices=ApiKeyScope.choices)
    expires_at = forms.DateTimeField(
        label=_("Expires (optional, YYYY-MM-DD HH:MM)"), required=False
    )

    def __init__(self, *args: Any, roles: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["role"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = roles


class SigningKeyRegisterForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, required=False)
    public_key = forms.CharField(
        label=_("Ed25519 public key (PEM, or the raw 32 bytes in base64)"),
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
    )


class SigningKeyRevokeForm(forms.Form):
    reason = forms.ChoiceField(label=_("Reason"), choices=RevocationReason.choices)


def _translated(choices: list[tuple[str, str]]) -> list[tuple[str, Any]]:
    # The models' labels are only marked for translation; translate them as the page renders.
    return [(value, _(label)) for value, label in choices]


def _lines(text: str) -> list[tuple[int, str]]:
    """The non-blank lines of a text area with their line numbers (counted from 1)."""
    return [
        (number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()
    ]


class LawfulRequestFileForm(forms.Form):
    """Everything the API's filing input takes; the subject lists are typed one item a line.
    Checks the shape only: the filing service decides what may be filed."""

    kind = forms.ChoiceField(
        label=_("Kind of request"),
        choices=_translated(LawfulRequestKind.choices),
        help_text=_("A removal order must be answered within one hour of reaching the platforms."),
    )
    urgency = forms.ChoiceField(
        label=_("Urgency"), choices=_translated(Urgency.choices), initial=Urgency.ROUTINE
    )
    issuing_authority = forms.CharField(label=_("Issuing authority"), max_length=200)
    officer = forms.CharField(label=_("Officer responsible"), max_length=200)
    legal_basis = forms.CharField(
        label=_("Legal basis (statute and article)"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    jurisdiction = forms.RegexField(
        label=_("Jurisdiction (two-letter country code, or EU)"),
        regex=r"^([A-Za-z]{2}|EU)$",
        max_length=8,
        error_messages={"invalid": _("Use the two-letter ISO code of the country, or EU.")},
    )
    addressed_platforms = forms.MultipleChoiceField(
        label=_("Platforms addressed"), widget=forms.CheckboxSelectMultiple
    )
    subject_urls = forms.CharField(
        label=_("URLs of the content"),
        help_text=_("One address a line."),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    subject_hashes = forms.CharField(
        label=_("Content hashes"),
        help_text=_("One a line: the signal type, a space, then the hash (e.g. pdq 4f2a…)."),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    subject_accounts = forms.CharField(
        label=_("Accounts"),
        help_text=_("One account handle a line."),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    description = forms.CharField(
        label=_("Description"),
        help_text=_("Only what the platforms need to act: avoid personal data."),
        max_length=10_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args: Any, platforms: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["addressed_platforms"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = platforms

    def clean_subject_urls(self) -> list[str]:
        urls = []
        for number, line in _lines(self.cleaned_data["subject_urls"]):
            try:
                if len(line) > 2000:
                    raise forms.ValidationError("too long")
                URLValidator()(line)
            except forms.ValidationError:
                raise forms.ValidationError(
                    _("Line %(line)s: enter a full address, starting with https://.")
                    % {"line": number}
                ) from None
            urls.append(line)
        return urls

    def clean_subject_hashes(self) -> list[dict[str, str]]:
        hashes = []
        for number, line in _lines(self.cleaned_data["subject_hashes"]):
            signal_type, _space, value = line.partition(" ")
            value = value.strip()
            if not value:
                raise forms.ValidationError(
                    _("Line %(line)s: write the signal type, a space, then the hash.")
                    % {"line": number}
                )
            try:
                signal_types.normalise_value(signal_type, value)
            except signal_types.SignalValueError as exc:
                if exc.code == "unknown_signal_type":
                    message = _("Line %(line)s: unknown signal type %(type)s (known: %(known)s).")
                else:
                    message = _("Line %(line)s: this is not a valid %(type)s hash.")
                raise forms.ValidationError(
                    message
                    % {
                        "line": number,
                        "type": signal_type,
                        "known": ", ".join(sorted(signal_types.SIGNAL_TYPES)),
                    }
                ) from None
            hashes.append({"signal_type": signal_type, "value": value})
        return hashes

    def clean_subject_accounts(self) -> list[str]:
        accounts = []
        for number, line in _lines(self.cleaned_data["subject_accounts"]):
            if len(line) > 200:
                raise forms.ValidationError(
                    _("Line %(line)s: at most 200 characters.") % {"line": number}
                )
            accounts.append(line)
        return accounts

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        subject = ("subject_urls", "subject_hashes", "subject_accounts")
        if all(name in data for name in subject) and not any(data[name] for name in subject):
            raise forms.ValidationError(_("Name at least one URL, content hash or account."))
        return data


class LawfulRequestAnswerForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=_translated(AnswerOutcome.choices),
        widget=forms.RadioSelect,
    )
    details = forms.CharField(
        label=_("What was done, or why not"),
        help_text=_("Required when the request was declined or only partly actioned."),
        max_length=10_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not data.get("details", "").strip():
            if data.get("outcome") == AnswerOutcome.DECLINED:
                self.add_error("details", _("Say why the request was declined."))
            elif data.get("outcome") == AnswerOutcome.PARTIAL:
                self.add_error("details", _("Say what was done, and what was not."))
        return data


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Their email address"))
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args: Any, roles: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["role"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = roles


class InvitationAcceptForm(forms.Form):
    full_name = forms.CharField(label=_("Your name"), max_length=200)
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not only digits, not a common password."),
    )
    password_again = forms.CharField(
        label=_("Password again"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("password") and data.get("password_again") not in (None, data["password"]):
            self.add_error("password_again", _("The two passwords differ."))
        return data


class TargetDateForm(forms.Form):
    """A new target date for one criterion a mentee still has to meet."""

    criterion = forms.SlugField(widget=forms.HiddenInput)
    target_date = forms.DateField(
        label=_("New target date (YYYY-MM-DD)"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
