from django import template

register = template.Library()


@register.filter
def field_label(name: str) -> str:
    """`time_to_first_hash_seconds` → "Time to first hash (seconds)", for debrief keys."""
    text = str(name).replace("_", " ")
    for unit in ("seconds", "hours"):
        if text.endswith(f" {unit}"):
            text = f"{text[: -len(unit) - 1]} ({unit})"
    return text[:1].upper() + text[1:]
