"""A system check: every signal type the hub accepts has a STIX pattern, and the stix2
library accepts the indicator the feed would serve for it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.checks import CheckMessage, Error, register

from hashbank.signal_types import SIGNAL_TYPES
from taxii import stix

# One stored value of each type, as the hub normalises it.
SAMPLE_VALUES = {
    "md5": "d41d8cd98f00b204e9800998ecf8427e",
    "video_md5": "d41d8cd98f00b204e9800998ecf8427e",
    "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "pdq": "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
    "vpdq": '["f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22,100,0.0"]',
    "url": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}
_HUB = "00000000-0000-4000-8000-000000000000"


@register()
def signal_types_have_stix_patterns(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    import stix2

    errors: list[CheckMessage] = []
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for name in SIGNAL_TYPES:
        value = SAMPLE_VALUES.get(name)
        if value is None or (name != "url" and name not in stix.FILE_HASH_NAMES):
            errors.append(
                Error(
                    f"signal type {name!r} has no STIX pattern or sample value",
                    hint="add it to taxii.stix and taxii.checks.SAMPLE_VALUES",
                    id="taxii.E001",
                )
            )
            continue
        version = stix.IndicatorVersion(
            bank="CHECK",
            signal_type=name,
            value=value,
            labels=["check"],
            status="active",
            confidence=0.5,
            incident="",
            listing=0,
            created=at,
            modified=at,
        )
        try:
            stix2.parse(stix.indicator_object(hub_id=_HUB, version=version), allow_custom=True)
        except stix2.exceptions.STIXError as error:
            errors.append(
                Error(f"the STIX indicator of {name!r} is invalid: {error}", id="taxii.E002")
            )
    return errors
