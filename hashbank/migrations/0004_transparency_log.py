"""One Merkle tree per bank: each entry's place in its bank's tree, the stored complete
subtrees, and the signed checkpoints. Existing entries are numbered per bank in sequence
order and their trees built here."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

from hashfed_wire import merkle


def build_trees(apps, schema_editor):
    ChangeLogEntry = apps.get_model("hashbank", "ChangeLogEntry")
    MerkleNode = apps.get_model("hashbank", "MerkleNode")
    leaves: dict[int, list[bytes]] = {}
    updates = []
    rows = ChangeLogEntry.objects.order_by("sequence").values_list("pk", "bank_id", "leaf_hash")
    for pk, bank_id, value in rows.iterator():
        bank_leaves = leaves.setdefault(bank_id, [])
        updates.append(ChangeLogEntry(pk=pk, bank_index=len(bank_leaves)))
        bank_leaves.append(bytes.fromhex(value))
    ChangeLogEntry.objects.bulk_update(updates, ["bank_index"], batch_size=1000)
    for bank_id, bank_leaves in leaves.items():
        appended = merkle.append_leaves(0, [], bank_leaves)
        MerkleNode.objects.bulk_create(
            [
                MerkleNode(bank_id=bank_id, level=level, index=index, hash=h.hex())
                for level, index, h in appended.nodes
                if level > 0
            ],
            batch_size=1000,
        )


class Migration(migrations.Migration):

    dependencies = [
        ('hashbank', '0003_sync_status'),
    ]

    operations = [
        migrations.AddField(
            model_name='changelogentry',
            name='bank_index',
            field=models.BigIntegerField(null=True),
        ),
        migrations.CreateModel(
            name='MerkleNode',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('level', models.PositiveSmallIntegerField()),
                ('index', models.BigIntegerField()),
                ('hash', models.CharField(max_length=64)),
                ('bank', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='hashbank.bank')),
            ],
            options={
                'ordering': ['bank', 'level', 'index'],
                'constraints': [models.UniqueConstraint(fields=('bank', 'level', 'index'), name='merkle_node_unique')],
            },
        ),
        migrations.CreateModel(
            name='Checkpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('size', models.BigIntegerField()),
                ('root_hash', models.CharField(max_length=64)),
                ('note', models.TextField()),
                ('issued_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('bank', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='checkpoints', to='hashbank.bank')),
            ],
            options={
                'ordering': ['bank', '-size'],
                'constraints': [models.UniqueConstraint(fields=('bank', 'size'), name='checkpoint_bank_size')],
            },
        ),
        migrations.RunPython(build_trees, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='changelogentry',
            name='bank_index',
            field=models.BigIntegerField(),
        ),
        migrations.AddConstraint(
            model_name='changelogentry',
            constraint=models.UniqueConstraint(fields=('bank', 'bank_index'), name='changelog_bank_index'),
        ),
    ]
