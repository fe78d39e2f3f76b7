"""Invitations of people to an organisation by its admins: a signed link, emailed to the
invitee alone, that works for GOVERNANCE_INVITATION_MAX_AGE seconds and once. Accepting
creates the person's account, with the role the invitation names. The link holds all it
needs: it is used once the address has an account, so no second account can come of it."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import password_validation
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.audit import AuditContext, audit_record
from accounts.models import Membership, Organisation, User
from accounts.permissions import is_granted, roles_at_most
from accounts.principal import Principal
from accounts.services import membership_add
from core.errors import Conflict, Invalid, NotPermitted
from federation.governance import tasks

INVITATION_SALT = "governance.invitation"
INVITE_ACTION = "accounts.membership.invite"


@dataclass(frozen=True)
class Invitation:
    organisation: Organisation
    email: str
    role: str
    inviter: Membership


def _may_invite(membership: Membership) -> bool:
    organisation = membership.organisation
    return organisation.is_active and is_granted(
        INVITE_ACTION, kind=organisation.kind, role=membership.role
    )


@transaction.atomic
def invitation_send(
    *, inviter: Membership, email: str, role: str, language: str, context: AuditContext
) -> str:
    """Email `email` an invitation to the inviter's organisation with `role`; returns the
    token. Raises NotPermitted unless the inviter administers the organisation, Invalid for
    a role the kind lacks or above the inviter's, Conflict when the address has an account."""
    organisation = inviter.organisation
    if not _may_invite(inviter):
        raise NotPermitted("only the organisation's admins invite people")
    if role not in roles_at_most(organisation.kind, inviter.role):
        raise Invalid.for_field("role", "not a role you may give in this organisation")
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict.for_field(
            "email", "this person has an account already; ask consortium staff to add them"
        )
    token = signing.dumps(
        {"org": organisation.pk, "email": email, "role": role, "by": inviter.pk},
        salt=INVITATION_SALT,
    )
    audit_record(
        action="governance.invitation.sent",
        context=context,
        target=organisation,
        organisation=organisation,
        detail={"email": email, "role": role},
    )
    transaction.on_commit(lambda: tasks.send_person_invitation.delay(token, language))
    return token


def invitation_read(token: str) -> Invitation:
    """What a link invites to. Raises Invalid (code link_expired, link_invalid) or Conflict
    (code link_used: the address has an account, so the link was used) otherwise, and
    Invalid (invitation_withdrawn) once the inviter no longer administers the organisation."""
    try:
        data = signing.loads(
            token, salt=INVITATION_SALT, max_age=settings.GOVERNANCE_INVITATION_MAX_AGE
        )
    except signing.SignatureExpired as exc:
        raise Invalid("This invitation has expired.", code="link_expired") from exc
    except signing.BadSignature as exc:
        raise Invalid("This invitation link is not valid.", code="link_invalid") from exc
    inviter = (
        Membership.objects.select_related("organisation", "user")
        .filter(pk=data.get("by"), organisation_id=data.get("org"))
        .first()
    )
    if inviter is None or not _may_invite(inviter):
        raise Invalid("This invitation was withdrawn.", code="invitation_withdrawn")
    if User.objects.filter(email__iexact=data["email"]).exists():
        raise Conflict("This invitation was used already.", code="link_used")
    return Invitation(
        organisation=inviter.organisation, email=data["email"], role=data["role"], inviter=inviter
    )


@transaction.atomic
def invitation_accept(
    *, token: str, full_name: str, password: str, context: AuditContext
) -> Membership:
    """Create the invitee's account (their email proven by the link) with `password`, in
    the organisation with the invited role. Raises as invitation_read does, and Invalid
    (field password) for a password the validators refuse."""
    invitation = invitation_read(token)
    candidate = User(email=invitation.email, full_name=full_name)
    try:
        password_validation.validate_password(password, candidate)
    except ValidationError as exc:
        raise Invalid.for_field("password", " ".join(exc.messages)) from None
    try:
        with transaction.atomic():
            user = User.objects.create_user(invitation.email, password, full_name=full_name)
    except IntegrityError:
        # The same link opened twice at once: the first one used it.
        raise Conflict("This invitation was used already.", code="link_used") from None
    inviter = invitation.inviter
    membership = membership_add(
        user=user,
        organisation=invitation.organisation,
        role=invitation.role,
        granted_by=Principal(
            organisation=inviter.organisation, role=inviter.role, user=inviter.user
        ),
        context=AuditContext(user=user, ip_address=context.ip_address),
    )
    audit_record(
        action="governance.invitation.accepted",
        context=AuditContext(user=user, ip_address=context.ip_address),
        target=membership,
        organisation=invitation.organisation,
        detail={"email": invitation.email, "role": invitation.role, "by": inviter.user.email},
    )
    return membership
