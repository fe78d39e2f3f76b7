"""Complaints and help pages on top of the fixed cast: the help fixture loaded, and the way
the public files a complaint."""

from __future__ import annotations

import pytest
from django.test import Client, TestCase

from accounts.audit import AuditContext
from federation.complaints.services import help_resources_load

COMPLAINT = {
    "email": "maya@example.org",
    "platform": "Northwind Video",
    "removed_on": "2026-11-30",
    "content_url": "https://northwind.example/v/42",
    "content_description": "A video of a peaceful protest in my town.",
    "reason": "It is my own footage of a lawful demonstration, not terrorist content.",
    "hash_value": "",
    "consent": "on",
    "website": "",
}


@pytest.fixture
def help_loaded(db) -> tuple[int, int]:
    return help_resources_load(context=AuditContext.system())


def file_complaint(
    client: Client | None = None, *, ip: str = "203.0.113.7", lang: str = "en", **overrides
):
    """POST the complaint form as a member of the public would; a None override leaves the
    field out."""
    data = {k: v for k, v in {**COMPLAINT, **overrides}.items() if v is not None}
    with committed():
        return (client or Client()).post(
            "/help/complaint/", data, REMOTE_ADDR=ip, HTTP_ACCEPT_LANGUAGE=lang
        )


def committed():
    """Run what a request leaves for after its commit (the emails) as the request ends, as
    it would outside the test's transaction."""
    return TestCase.captureOnCommitCallbacks(execute=True)
