"""The portal's pages are those of the membership process too: they share the governance
fixtures (criteria, applicants, staff)."""

from tests.governance.conftest import (  # noqa: F401
    criteria,
    make_applicant,
    staff,
    staff_context,
    submitted_application,
)
