"""What every public page shows whatever rendered it, even the 500 page that has no
request: the consortium's contact address."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def hub_contact_email() -> str:
    return str(settings.HUB_CONTACT_EMAIL)
