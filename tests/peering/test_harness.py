"""The two-hub harness itself: hub A answers as a hub of its own, with its own key."""

from __future__ import annotations

import json
import urllib.request

from django.conf import settings


def test_hub_a_is_another_hub_with_its_own_identity(hub_a):
    with urllib.request.urlopen(f"{hub_a.url}/.well-known/hashfed", timeout=10) as response:
        identity = json.load(response)
    assert identity["origin"] == "hub-a.test" != settings.HUB_ORIGIN
    assert hub_a.peer["vkey"].startswith("hub-a.test+")
    values = hub_a.call("publish", bank="TVEC", count=2)
    request = urllib.request.Request(
        f"{hub_a.url}/api/v1/sync/?cursor=0",
        headers={"Authorization": f"Bearer {hub_a.peer['api_key']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        page = json.load(response)
    assert {entry["value"] for entry in page["entries"]} >= set(values)
    assert {entry["bank"] for entry in page["entries"]} <= {"TVEC", "OPEN"}
