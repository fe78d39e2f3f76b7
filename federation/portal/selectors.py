"""Reads behind the portal's pages: what one page shows to one member, built from the
selectors of the apps that own the data. Reading lawful requests goes through
authorities.selectors.read_lawful_request(s), which log each read on the portal channel."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import qrcode
import qrcode.image.svg
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.safestring import mark_safe
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.hub_identity import HubStateMismatch, hub_keys
from accounts.models import Membership, Organisation, OrganisationKind, Role, User
from accounts.permissions import HASH_BANK_FIREWALLED_KINDS, is_granted, roles_at_most
from accounts.selectors import passkeys_of
from federation.authorities import selectors as authorities_selectors
from federation.authorities.models import (
    AccessChannel,
    LawfulRequest,
    LawfulRequestAddressee,
    LawfulRequestState,
)
from federation.governance import selectors as governance_selectors
from federation.governance.models import MembershipApplication, Mentorship
from federation.incidents.models import Incident, IncidentState
from federation.portal.pages import audit_context

# The dashboard shows the open lawful requests first due; the full list is a page away.
DASHBOARD_REQUESTS = 10
LAWFUL_REQUESTS_PAGE_SIZE = 50


@dataclass(frozen=True)
class RequestRow:
    """A request as a list shows it to one organisation: an authority sees how many of the
    addressed platforms answered, a platform sees its own acknowledgement and answer."""

    request: LawfulRequest
    addressed: int
    answered: int
    own: LawfulRequestAddressee | None


def request_rows(requests: Iterable[LawfulRequest], *, membership: Membership) -> list[RequestRow]:
    rows = []
    for lawful_request in requests:
        addressees = list(lawful_request.addressees.all())
        rows.append(
            RequestRow(
                request=lawful_request,
                addressed=len(addressees),
                answered=sum(1 for a in addressees if a.answered_at is not None),
                own=next(
                    (a for a in addressees if a.organisation_id == membership.organisation_id),
                    None,
                ),
            )
        )
    return rows


def portal_reader(request: HttpRequest, membership: Membership) -> authorities_selectors.Reader:
    """The person signed in as a reader of their organisation's lawful requests."""
    return authorities_selectors.Reader(
        context=audit_context(request, membership),
        channel=AccessChannel.PORTAL,
        organisation=membership.organisation,
    )


def granted(membership: Membership, action: str) -> bool:
    return is_granted(action, kind=membership.organisation.kind, role=membership.role)


@dataclass(frozen=True)
class StepLink:
    """An onboarding step with where it is done: a portal page, or the guide to the API."""

    key: str
    label: Any
    done: bool
    url: str


# Where each first step is done: the portal's own pages, else the API's documentation.
_STEP_PAGES = {"api_key": "portal:api-keys", "signing_key": "portal:signing-keys"}


def checklist_of(membership: Membership) -> list[StepLink]:
    slug = membership.organisation.slug
    docs = reverse("docs")
    return [
        StepLink(
            step.key,
            step.label,
            step.done,
            reverse(_STEP_PAGES[step.key], args=[slug]) if step.key in _STEP_PAGES else docs,
        )
        for step in governance_selectors.onboarding_checklist(organisation=membership.organisation)
    ]


@dataclass(frozen=True)
class Contact:
    name: str
    email: str


def mentor_contacts(mentorship: Mentorship | None) -> list[Contact]:
    """Whom a mentee writes to: the staff mentor, or the mentoring organisation's admins."""
    if mentorship is None:
        return []
    mentor_organisation = mentorship.mentor_organisation
    if mentorship.mentor_user is not None:
        users = [mentorship.mentor_user]
    elif mentor_organisation is not None:
        users = [
            m.user
            for m in governance_selectors.memberships_of(organisation=mentor_organisation).filter(
                role=Role.ADMIN, user__is_active=True
            )
        ]
    else:
        users = []
    return [Contact(name=u.full_name or u.email, email=u.email) for u in users]


def incidents_open_for(organisation: Organisation) -> QuerySet[Incident]:
    """The open crisis incidents a member's banner shows; none for the organisations kept
    apart from the hash bank."""
    if organisation.kind in HASH_BANK_FIREWALLED_KINDS:
        return Incident.objects.none()
    return Incident.objects.filter(state=IncidentState.OPEN).order_by("-level", "declared_at")


def dashboard_of(request: HttpRequest, membership: Membership) -> dict[str, Any]:
    """What an organisation's dashboard shows its member; the open lawful requests listed
    are logged as read, like the API's list. An authority's desk is its lawful requests
    alone: nothing of the hash bank, its keys or its figures."""
    organisation = membership.organisation
    follows_requests = granted(membership, "authorities.request.list")
    open_requests: list[LawfulRequest] = []
    if follows_requests:
        open_requests = authorities_selectors.read_lawful_requests(
            portal_reader(request, membership),
            purpose="request.list",
            page=lambda requests: list(requests[:DASHBOARD_REQUESTS]),
            open_only=True,
        )
    page: dict[str, Any] = {
        "organisation": organisation,
        "membership": membership,
        "is_authority": organisation.kind == OrganisationKind.AUTHORITY,
        "firewalled": organisation.kind in HASH_BANK_FIREWALLED_KINDS,
        "decisions": governance_selectors.decisions_about(organisation=organisation)[:10],
        "follows_requests": follows_requests,
        "request_rows": request_rows(open_requests, membership=membership),
        "mentors": governance_selectors.mentorships_of(user=membership.user).exists(),
    }
    if organisation.kind in HASH_BANK_FIREWALLED_KINDS:
        return page
    mentorship = governance_selectors.current_mentorship(organisation=organisation)
    return {
        **page,
        "checklist": checklist_of(membership),
        "figures": governance_selectors.organisation_figures(organisation=organisation),
        "mentorship": mentorship,
        "mentor_contacts": mentor_contacts(mentorship),
        "targets": governance_selectors.criterion_targets_of(organisation=organisation),
        "can_submit": organisation.may_contribute,
        "follows_disputes": granted(membership, "hashbank.dispute.list"),
    }


def application_page_of(application: MembershipApplication) -> dict[str, Any]:
    """An application as its status page shows it to the applicant."""
    return {
        "application": application,
        "missing": governance_selectors.application_missing(application=application)
        if application.is_editable
        else [],
        "conversation": application.messages.select_related("author"),
        "evidence": application.evidence.select_related("criterion"),
    }


def key_roles(membership: Membership) -> list[tuple[str, str]]:
    """The roles this person may give a key: their own and the ones below it."""
    labels = dict(Role.choices)
    return [
        (role, str(labels[role]))
        for role in roles_at_most(membership.organisation.kind, membership.role)
    ]


def hub_verifier_keys() -> list[str]:
    """The verifier keys a member's client pins (`hashfed sync --hub-key`): the hub's key
    and, during a rotation, the next one, which already signs beside it. Shown in the
    portal, a channel apart from the API, so that a hub impersonated on the network cannot
    hand a new member its own key. Empty while the hub refuses to sign (its key belongs to
    another database): the page then offers no key rather than a wrong one."""
    try:
        keys = hub_keys()
    except HubStateMismatch:
        return []
    return [identity.note_verifier_key for identity in keys.signing]


def api_keys_page_of(membership: Membership) -> dict[str, Any]:
    organisation = membership.organisation
    return {
        "organisation": organisation,
        "membership": membership,
        "keys": governance_selectors.api_keys_of(organisation=organisation),
        # Only organisations that sync the list pin the hub's key.
        "hub_verifier_keys": hub_verifier_keys()
        if organisation.kind not in HASH_BANK_FIREWALLED_KINDS
        else [],
    }


def signing_keys_page_of(membership: Membership) -> dict[str, Any]:
    organisation = membership.organisation
    return {
        "organisation": organisation,
        "membership": membership,
        "keys": governance_selectors.signing_keys_of(organisation=organisation),
        "can_manage": granted(membership, "accounts.signingkey.register"),
    }


def lawful_requests_page_of(
    request: HttpRequest, membership: Membership, *, overdue_only: bool, page_number: str | None
) -> dict[str, Any]:
    """One page of the organisation's lawful requests, each logged as read."""
    organisation = membership.organisation
    page: Page[LawfulRequest] = authorities_selectors.read_lawful_requests(
        portal_reader(request, membership),
        purpose="request.list",
        page=lambda requests: Paginator(requests, LAWFUL_REQUESTS_PAGE_SIZE).get_page(page_number),
        overdue=overdue_only,
    )
    return {
        "organisation": organisation,
        "membership": membership,
        "rows": request_rows(page.object_list, membership=membership),
        "page": page,
        "overdue_only": overdue_only,
        "is_authority": organisation.kind == OrganisationKind.AUTHORITY,
        "firewalled": organisation.kind in HASH_BANK_FIREWALLED_KINDS,
        "can_file": granted(membership, "authorities.request.file"),
    }


def lawful_request_page_of(
    request: HttpRequest, membership: Membership, request_id: uuid.UUID
) -> dict[str, Any]:
    """One lawful request as its page shows it to a member, logged as read. Raises NotFound
    for a request the organisation may not see."""
    organisation = membership.organisation
    lawful_request = authorities_selectors.read_lawful_request(
        portal_reader(request, membership), str(request_id), purpose="request.detail"
    )
    [row] = request_rows([lawful_request], membership=membership)
    # Like the API: a platform sees its own acknowledgement and answer, never another's.
    if organisation.kind == OrganisationKind.AUTHORITY:
        addressees = list(lawful_request.addressees.all())
    else:
        addressees = [row.own] if row.own else []
    still_open = lawful_request.state in (
        LawfulRequestState.FORWARDED,
        LawfulRequestState.ACKNOWLEDGED,
    )
    own = row.own
    may_answer = own is not None and granted(membership, "authorities.request.answer")
    return {
        "organisation": organisation,
        "membership": membership,
        "lawful_request": lawful_request,
        "row": row,
        "addressees": addressees,
        "can_acknowledge": own is not None
        and may_answer
        and own.acknowledged_at is None
        and still_open,
        "can_answer": own is not None and may_answer and own.answered_at is None and still_open,
    }


def _qr_svg(uri: str) -> str:
    """The otpauth:// address as inline SVG markup: drawn here, so the secret in it never
    leaves the hub for a QR service."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    markup: str = image.to_string(encoding="unicode")
    return mark_safe(markup)  # noqa: S308 -- generated markup


def totp_enrolment_of(*, user: User, device: TOTPDevice) -> dict[str, Any]:
    """What the enrolment page shows: the pending authenticator's QR code and secret (four
    characters a group, for typing), and the person's existing factors."""
    secret = base64.b32encode(device.bin_key).decode()
    return {
        "qr_svg": _qr_svg(device.config_url),
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "enrolled": user_has_device(user),
        "passkeys": passkeys_of(user=user),
    }
