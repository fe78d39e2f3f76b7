"""Email to people. Every email the hub sends goes through `email_person`: one message to
one address, rendered in that person's language, with absolute links built from the hub's
public address. A message never names another recipient, so telling several people the
same thing (the platforms a lawful request is forwarded to, the members an incident is
declared to) is several messages, none of which reveals who else was told."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import translation

from accounts.models import Organisation, OrganisationKind, Role, User


@dataclass(frozen=True)
class Recipient:
    email: str
    language: str

    @classmethod
    def of(cls, user: User, default_language: str = "") -> Recipient:
        """`user` in the language they last used in the portal; else `default_language`
        (e.g. the one their application was written in); else the hub's default."""
        language = user.language or default_language or settings.LANGUAGE_CODE
        return cls(email=user.email, language=language)

    @classmethod
    def mailbox(cls, email: str) -> Recipient:
        """A shared address (staff, appeals), written to in the hub's default language."""
        return cls(email=email, language=settings.LANGUAGE_CODE)


def hub_url(path: str) -> str:
    """An absolute link to `path` (from `reverse`) on the hub. Emails are sent outside any
    request, so the address comes from settings.HUB_PUBLIC_URL, never from a request."""
    return settings.HUB_PUBLIC_URL.rstrip("/") + path


def recipients_in(
    *, organisation: Organisation, roles: Iterable[str], default_language: str = ""
) -> list[Recipient]:
    """The people holding one of `roles` in `organisation`, each in their own language."""
    users = User.objects.filter(
        memberships__organisation=organisation, memberships__role__in=list(roles)
    ).order_by("email")
    return [Recipient.of(user, default_language) for user in users]


def admins_of(*, organisation: Organisation, default_language: str = "") -> list[Recipient]:
    """The organisation's admins: who hears of decisions about the organisation itself."""
    return recipients_in(
        organisation=organisation, roles=[Role.ADMIN], default_language=default_language
    )


def people_acting_for(*, organisation: Organisation) -> list[Recipient]:
    """Who acts on what the hub tells an organisation (a lawful request, an incident): an
    authority's liaisons, a platform's admins and analysts."""
    if organisation.kind == OrganisationKind.AUTHORITY:
        return recipients_in(organisation=organisation, roles=[Role.LIAISON])
    return recipients_in(organisation=organisation, roles=[Role.ADMIN, Role.ANALYST])


def staff_recipients() -> list[Recipient]:
    return [Recipient.of(u) for u in User.objects.filter(is_staff=True, is_active=True)]


def email_person(*, recipient: Recipient, template: str, context: dict[str, Any]) -> int:
    """Render `template` in the recipient's language (its first line is the subject, the
    rest the body) and send it to that address alone. Returns the number sent (0 or 1)."""
    with translation.override(recipient.language):
        rendered = render_to_string(template, {**context, "recipient": recipient})
    subject, _, body = rendered.partition("\n")
    message = EmailMessage(
        subject=" ".join(subject.split()),
        body=body.strip() + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient.email],
    )
    return message.send()


def email_people(
    *,
    recipients: Iterable[Recipient],
    template: str,
    context: dict[str, Any] | Callable[[Recipient], dict[str, Any]],
) -> int:
    """`email_person` for each distinct address; `context` may depend on the recipient (a
    link to the page of the recipient's own organisation). Returns the number sent."""
    sent = 0
    seen: set[str] = set()
    for recipient in recipients:
        if recipient.email.lower() in seen:
            continue
        seen.add(recipient.email.lower())
        values = context(recipient) if callable(context) else context
        sent += email_person(recipient=recipient, template=template, context=values)
    return sent
