"""Give this database its hub identity when it is first migrated, so the first process to
start finds it already there (a database emptied later gets a new one on first use)."""

import uuid

from django.db import migrations


def create_hub_instance(apps, schema_editor):
    HubInstance = apps.get_model("accounts", "HubInstance")
    HubInstance.objects.get_or_create(pk=1, defaults={"hub_id": uuid.uuid4()})


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_hub_instance")]

    operations = [migrations.RunPython(create_hub_instance, migrations.RunPython.noop)]
