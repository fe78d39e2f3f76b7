"""Template helpers of the portal: what a member's role lets their pages offer, deadlines with
their time zone and the time left, and the banner of an open crisis incident."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext as _

from accounts.models import Membership
from accounts.permissions import is_granted

register = template.Library()


@register.filter
def may(membership: Membership | None, action: str) -> bool:
    """Whether the member's role holds `action` of the permission matrix: a page offers only
    what the person may do."""
    if membership is None:
        return False
    return is_granted(action, kind=membership.organisation.kind, role=membership.role)


def time_left(when: dt.datetime | dt.date, now: dt.datetime | None = None) -> str:
    """ "in 3 days" or "3 days ago", in the page's language."""
    now = now or timezone.now()
    if not isinstance(when, dt.datetime):
        when = dt.datetime.combine(when, dt.time(), tzinfo=timezone.get_current_timezone())
        now = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if when >= now:
        return _("in %(time)s") % {"time": timeuntil(when, now, depth=1)}
    return _("%(time)s ago") % {"time": timesince(when, now, depth=1)}


@register.simple_tag
def deadline(when: dt.datetime | dt.date | None) -> SafeString | str:
    """A deadline as a member reads it: the date (and time, with its time zone) and how long
    is left, e.g. "2026-12-09 14:00 UTC (in 3 days)"."""
    if when is None:
        return ""
    if isinstance(when, dt.datetime):
        local = timezone.localtime(when)
        shown = f"{date_format(local, 'Y-m-d H:i')} {local.tzname()}"
    else:
        shown = date_format(when, "Y-m-d")
    return format_html(
        '<time datetime="{}">{}</time> <span class="help">({})</span>',
        when.isoformat(),
        shown,
        time_left(when),
    )


@register.inclusion_tag("portal/incident_banner.html")
def incident_banner(organisation: Any) -> dict[str, Any]:
    """The open crisis incidents, shown to every member whose organisation may learn of
    the hash bank; never to an authority or a research organisation."""
    from federation.portal.selectors import incidents_open_for

    return {"incidents": incidents_open_for(organisation)}
