"""Sign-up of applicants and the verification of their email address. The verification email
is enqueued on commit, so a rolled-back sign-up never sends one."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.db import transaction

from accounts.audit import AuditContext, audit_record
from accounts.models import (
    User,
)
from core.errors import Conflict, Invalid
from federation.governance import tasks

VERIFY_SALT = "governance.email-verification"


@transaction.atomic
def applicant_signup(
    *, email: str, password: str, full_name: str, language: str, context: AuditContext
) -> User:
    """Create an inactive account and email a verification link. Raises Conflict when the
    address is taken (the form says so without revealing whose it is)."""
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict.for_field("email", "an account with this email address exists already")
    user = User.objects.create_user(
        email, password, full_name=full_name, is_active=False, language=language
    )
    audit_record(action="governance.applicant.signed_up", context=context, target=user)
    transaction.on_commit(lambda: tasks.send_verification_email.delay(user.pk, language))
    return user


def verification_token(user: User) -> str:
    # The email is part of the token, so a link stops working if the address changes.
    return signing.dumps({"user": user.pk, "email": user.email}, salt=VERIFY_SALT)


@transaction.atomic
def applicant_verify_email(*, token: str, context: AuditContext) -> User:
    """Activate the account a verification link names. Raises Invalid for a tampered or
    expired link (GOVERNANCE_VERIFY_MAX_AGE seconds). Verifying twice is harmless."""
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=settings.GOVERNANCE_VERIFY_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise Invalid("This link has expired; sign up again.", code="link_expired") from exc
    except signing.BadSignature as exc:
        raise Invalid("This link is not valid.", code="link_invalid") from exc
    user = User.objects.filter(pk=data.get("user"), email=data.get("email")).first()
    if user is None:
        raise Invalid("This link is not valid.", code="link_invalid")
    if not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit_record(
            action="governance.applicant.email_verified",
            context=AuditContext(user=user, ip_address=context.ip_address),
            target=user,
        )
    return user


def unconfirmed_account(*, email: str, password: str) -> User | None:
    """The account `email` and `password` open, when it is still waiting for its email
    address to be confirmed (never activated, never signed in); None otherwise. Only the
    right password tells, so sign-in reveals no more about who has an account than before."""
    user = User.objects.filter(
        email__iexact=email.strip(), is_active=False, last_login__isnull=True
    ).first()
    if user is None or not user.check_password(password):
        return None
    return user


@transaction.atomic
def verification_resend(*, email: str, language: str, context: AuditContext) -> bool:
    """Email the confirmation link again to an account still waiting for it. Says nothing
    to the caller about other addresses: False changes nothing and sends nothing."""
    user = User.objects.filter(
        email__iexact=email.strip(), is_active=False, last_login__isnull=True
    ).first()
    if user is None:
        return False
    audit_record(action="governance.applicant.verification_resent", context=context, target=user)
    transaction.on_commit(lambda: tasks.send_verification_email.delay(user.pk, language))
    return True
