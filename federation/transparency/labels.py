"""What a reader sees for each key of a stored report: section titles, figure names,
and the human names of the keys of each breakdown (organisation kinds, tiers, EU DSA
categories...), in the active language. The stored data keeps its keys: these only
label them, on the page and in the CSV download."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.utils import formats
from django.utils.functional import Promise
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from accounts.models import OrganisationKind, Tier
from federation.authorities.models import AnswerOutcome, LawfulRequestKind
from federation.transparency.selectors import NO_DSA_CATEGORY
from hashbank.models import DisputeOutcome, Label, OpinionKind

SECTIONS: dict[str, Promise] = {
    "period": _("Period"),
    "members": _("Members"),
    "signals": _("Hashes"),
    "submissions": _("Submissions"),
    "opinions": _("Opinions"),
    "disputes": _("Disputes"),
    "lawful_requests": _("Lawful requests"),
    "incidents": _("Crisis incidents"),
}

# The single figures of each section, in page order.
FIGURES: dict[str, dict[str, Promise]] = {
    "period": {
        "start": pgettext_lazy("report figure", "Start"),
        "end": pgettext_lazy("report figure", "End (excluded)"),
    },
    "members": {
        "platforms": _("Member platforms at the end of the period"),
        "joined": _("Member platforms joined in the period"),
        "left": _("Member platforms left in the period"),
    },
    "signals": {
        "listed_at_end": _("Listed at the end of the period"),
        "added": pgettext_lazy("report figure", "Added"),
        "removed": pgettext_lazy("report figure", "Removed"),
        "updated": pgettext_lazy("report figure", "Updated"),
        "incident_hashes": _("Listed under a crisis incident"),
    },
    "submissions": {
        "received": pgettext_lazy("report figure", "Received"),
        "approved": pgettext_lazy("report figure", "Approved"),
        "rejected": pgettext_lazy("report figure", "Rejected"),
        "approved_on_arrival": _("Approved on arrival (trusted or crisis fast path)"),
        "median_hours_to_decision": _("Median time to decision (hours)"),
    },
    "opinions": {"total": _("Recorded or changed in the period")},
    "disputes": {
        "filed": pgettext_lazy("report figure", "Filed"),
        "decided": pgettext_lazy("report figure", "Decided"),
        "upheld": _("Upheld (the listing stands)"),
        "overturned": _("Overturned (removed from the list)"),
        "relabelled": pgettext_lazy("report figure", "Relabelled"),
        "median_hours_to_decision": _("Median time to decision (hours)"),
        "appeals": pgettext_lazy("report figure", "Appeals"),
    },
    "lawful_requests": {
        "filed": pgettext_lazy("report figure", "Filed"),
        "refused_by_staff": _("Refused by staff (not authentic or incomplete)"),
        "answers": _("Answers by platforms"),
        "median_hours_to_answer": _("Median time to answer (hours)"),
        "answers_due": _("Answers due in the period (deadline passed, or answered)"),
        "answered_late_or_missing": _("Of those, answered late or not at all"),
        "answered_within_deadline_share": _("Share of answers due given within the deadline"),
    },
}

# Figures that are a share (0 to 1), shown as a percentage.
SHARES = {("lawful_requests", "answered_within_deadline_share")}

DEBRIEF: dict[str, Promise] = {
    "time_to_first_hash_seconds": _("Time from the start to the first hash (seconds)"),
    "time_from_declaration_to_first_hash_seconds": _(
        "Time from declaration to the first hash (seconds)"
    ),
    "hashes_shared": _("Hashes shared"),
    "submissions_received": _("Submissions received"),
    "submissions_approved": _("Submissions approved"),
    "submissions_rejected_after_review": _("Submissions rejected after review"),
    "members_contributing": _("Members contributing"),
    "members_reached": _("Members reached"),
    "authorities_reached": _("Authorities reached"),
    "webhooks_delivered": _("Alerts delivered"),
    "webhooks_failed": _("Alerts not delivered"),
    "disputes": _("Disputes"),
    "disputes_overturned": _("Disputes overturned"),
    "duration_seconds": _("Duration (seconds)"),
}

INCIDENT_FIELDS: dict[str, Promise] = {
    "slug": pgettext_lazy("report figure", "Identifier"),
    "title": pgettext_lazy("report figure", "Title"),
    "level": pgettext_lazy("report figure", "Level"),
    "state": pgettext_lazy("report figure", "State"),
    "started_at": pgettext_lazy("report figure", "Started"),
    "declared_at": pgettext_lazy("report figure", "Declared"),
    "closed_at": pgettext_lazy("report figure", "Closed"),
}

SIGNAL_TYPES: dict[str, Promise] = {
    "pdq": _("PDQ (pictures)"),
    "vpdq": _("vPDQ (videos)"),
    "md5": _("MD5 (exact files)"),
    "sha256": _("SHA-256 (exact files)"),
    "video_md5": _("MD5 (exact video files)"),
}

# The EU DSA transparency database's statement categories, as it names them.
DSA_CATEGORIES: dict[str, Promise] = {
    "STATEMENT_CATEGORY_ANIMAL_WELFARE": _("Animal welfare"),
    "STATEMENT_CATEGORY_CYBER_VIOLENCE": _("Cyber violence"),
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS": _(
        "Data protection and privacy violations"
    ),
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH": _("Illegal or harmful speech"),
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS": _(
        "Intellectual property infringements"
    ),
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS": _(
        "Negative effects on civic discourse or elections"
    ),
    "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR": _("Non-consensual behaviour"),
    "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT": _("Pornography or sexualised content"),
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS": _("Protection of minors"),
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY": _("Risk for public security"),
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD": _("Scams and fraud"),
    "STATEMENT_CATEGORY_SELF_HARM": _("Self-harm"),
    "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS": _("Unsafe and illegal products"),
    "STATEMENT_CATEGORY_VIOLENCE": _("Violence"),
    NO_DSA_CATEGORY: _("No DSA category"),
}


def _humanised(key: str) -> str:
    text = key.removeprefix("STATEMENT_CATEGORY_").replace("_", " ").strip().lower()
    return text[:1].upper() + text[1:]


def _choices(choices: list[tuple[Any, Any]]) -> Callable[[str], str]:
    """A labeller from a model's choices, whether their labels are lazy or gettext_noop."""
    names = {str(value): label for value, label in choices}
    return lambda key: gettext(str(names[key])) if key in names else _humanised(key)


def _from(mapping: dict[str, Promise]) -> Callable[[str], str]:
    return lambda key: str(mapping[key]) if key in mapping else _humanised(key)


def _taxonomy_label(key: str) -> str:
    name = Label.objects.filter(slug=key).values_list("name", flat=True).first()
    return name or key


def _as_is(key: str) -> str:
    return key


# (section, breakdown) → (title, labeller of its keys), in page order.
BREAKDOWNS: dict[tuple[str, str], tuple[Promise, Callable[[str], str]]] = {
    ("members", "by_kind"): (
        _("Organisations taking part (consortium excluded), by kind"),
        _choices(OrganisationKind.choices),
    ),
    ("members", "platforms_by_tier"): (_("Member platforms by tier"), _choices(Tier.choices)),
    ("signals", "by_bank"): (_("Hashes listed at the end of the period, by bank"), _as_is),
    ("signals", "by_signal_type"): (_("Hashes listed, by signal type"), _from(SIGNAL_TYPES)),
    ("signals", "by_label"): (_("Hashes listed, by label"), _taxonomy_label),
    ("signals", "by_dsa_category"): (
        _("Hashes listed, by EU DSA statement category"),
        _from(DSA_CATEGORIES),
    ),
    ("opinions", "by_kind"): (_("Opinions recorded, by kind"), _choices(OpinionKind.choices)),
    ("disputes", "appeal_outcomes"): (
        _("Appeals decided, by outcome"),
        _choices(DisputeOutcome.choices),
    ),
    ("lawful_requests", "by_kind"): (
        _("Lawful requests, by kind"),
        _choices(LawfulRequestKind.choices),
    ),
    ("lawful_requests", "by_jurisdiction"): (_("Lawful requests, by jurisdiction"), _as_is),
    ("lawful_requests", "by_outcome"): (
        _("Answers to lawful requests, by outcome"),
        _choices(AnswerOutcome.choices),
    ),
}

INCIDENT_STATES: dict[str, Promise] = {
    "open": pgettext_lazy("incident", "open"),
    "closed": pgettext_lazy("incident", "closed"),
}
incident_state = _from(INCIDENT_STATES)


def number(value: Any) -> str:
    """A figure as the reader's language writes numbers: "1,234.5" or "1 234,5"."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return formats.number_format(value, use_l10n=True, force_grouping=True)


def percentage(share: float | None) -> str:
    """A share (0 to 1) as a percentage to one decimal, "12.5%" or "12,5 %"."""
    if share is None:
        return "—"
    percent = round(share * 100, 1)
    places = 0 if percent == int(percent) else 1
    text = formats.number_format(percent, decimal_pos=places, use_l10n=True)
    # Translators: a percentage; French puts a no-break space before the sign.
    return gettext("%(number)s%%") % {"number": text}


def figure(section: str, name: str, value: Any) -> str:
    return percentage(value) if (section, name) in SHARES else number(value)


def figure_rows(data: dict[str, Any], section: str) -> list[tuple[str, str]]:
    """The (label, shown value) of each single figure of a section the report holds."""
    values = data.get(section, {})
    return [
        (str(label), figure(section, name, values[name]))
        for name, label in FIGURES.get(section, {}).items()
        if name in values
    ]


def breakdown(data: dict[str, Any], section: str, name: str) -> dict[str, int | float]:
    """A breakdown of the report keyed by human labels (two keys of one label add up)."""
    labeller = BREAKDOWNS[(section, name)][1]
    out: dict[str, int | float] = {}
    for key, count in data.get(section, {}).get(name, {}).items():
        label = labeller(str(key))
        out[label] = out.get(label, 0) + count
    return out


def debrief_label(name: str) -> str:
    if name in DEBRIEF:
        return str(DEBRIEF[name])
    text = _humanised(name)
    for unit in ("seconds", "hours"):
        if text.endswith(f" {unit}"):
            text = f"{text[: -len(unit) - 1]} ({gettext(unit)})"
    return text


def _joined(*parts: str) -> str:
    """ "A: B: C", with the punctuation of the reader's language."""
    text = parts[0]
    for part in parts[1:]:
        # Translators: a heading and what it heads; French puts a no-break space before ":".
        text = gettext("%(heading)s: %(item)s") % {"heading": text, "item": part}
    return text


def csv_label(path: tuple[str, ...]) -> str:
    """The human name of one flattened figure: its section, then what it counts."""
    section, rest = path[0], path[1:]
    title = str(SECTIONS.get(section, _humanised(section)))
    if section == "incidents" and len(rest) >= 2:
        slug, field, *more = rest
        if field == "debrief" and more:
            what = debrief_label(more[0])
        else:
            what = str(INCIDENT_FIELDS.get(field, _humanised(field)))
        return _joined(title, slug, what)
    if len(rest) == 1 and rest[0] in FIGURES.get(section, {}):
        return _joined(title, str(FIGURES[section][rest[0]]))
    if len(rest) == 2 and (section, rest[0]) in BREAKDOWNS:
        heading, labeller = BREAKDOWNS[(section, rest[0])]
        return _joined(str(heading), labeller(rest[1]))
    return _joined(title, " ".join(_humanised(part) for part in rest if part))


def csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return str(value).lower() if isinstance(value, bool) else str(value)


def csv_flatten(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every value of a report as its key path: nested dicts flatten into the path, each
    incident under its slug."""
    for name, value in data.items():
        path = (*prefix, str(name))
        if isinstance(value, dict):
            yield from csv_flatten(value, path)
        elif isinstance(value, list):
            for item in value:
                key = item.get("slug", "") if isinstance(item, dict) else ""
                yield from csv_flatten(item if isinstance(item, dict) else {"": item}, (*path, key))
        else:
            yield (*path, csv_value(value))
