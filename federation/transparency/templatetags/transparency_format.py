from django import template
from django.utils.translation import gettext

from federation.transparency.models import TransparencyReport

register = template.Library()


@register.filter
def report_title(report: TransparencyReport) -> str:
    """The report's own title, or its period in the reader's language."""
    if report.title:
        return report.title
    return gettext("Transparency report %(start)s – %(end)s") % {
        "start": f"{report.period_start:%Y-%m-%d}",
        "end": f"{report.period_end:%Y-%m-%d}",
    }
