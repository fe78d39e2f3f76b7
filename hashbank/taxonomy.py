"""Loading the shared taxonomy and bank definitions from fixtures/."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.db import transaction

from accounts.audit import AuditContext, audit_record
from hashbank.models import Bank, Label

TAXONOMY_FILE = Path(settings.BASE_DIR) / "fixtures" / "taxonomy.json"
BANKS_FILE = Path(settings.BASE_DIR) / "fixtures" / "banks.json"


@transaction.atomic
def taxonomy_load(*, path: Path = TAXONOMY_FILE, context: AuditContext) -> tuple[int, int]:
    """Create or update every label of the file; labels the file no longer has are retired
    (never deleted: submissions and log entries name them). Returns (loaded, retired)."""
    taxonomy = json.loads(path.read_text())
    version = taxonomy["version"]
    slugs = []
    for spec in taxonomy["labels"]:
        Label.objects.update_or_create(
            slug=spec["slug"],
            defaults={
                "name": spec["name"],
                "category": spec["category"],
                "severity": spec["severity"],
                "description": spec["description"],
                "taxonomy_version": version,
                "dsa_category": spec.get("dsa_category", ""),
                "active": True,
                "origin_hub": "",
            },
        )
        slugs.append(spec["slug"])
    retired = Label.objects.exclude(slug__in=slugs).filter(active=True).update(active=False)
    audit_record(
        action="hashbank.taxonomy.loaded",
        context=context,
        detail={"version": version, "labels": len(slugs), "retired": retired},
    )
    return len(slugs), retired


@transaction.atomic
def banks_load(*, path: Path = BANKS_FILE, context: AuditContext) -> list[Bank]:
    """Create the banks of the file that do not exist yet (staff change banks in admin)."""
    banks = []
    for spec in json.loads(path.read_text())["banks"]:
        bank, created = Bank.objects.get_or_create(
            name=spec["name"], defaults={k: v for k, v in spec.items() if k != "name"}
        )
        if created:
            audit_record(action="hashbank.bank.created", context=context, target=bank)
        banks.append(bank)
    return banks
