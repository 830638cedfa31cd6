"""The match index's keys become a 64-bit hash beside the record's row id (see
``TargetRecordKey``): the old rows are converted, not dropped, so matching needs no reading of
the target again."""

import hashlib

import django.db.models.deletion
from django.db import migrations, models

BATCH = 5_000


def hash_of(system_id: int, resource: str, key: str) -> int:
    # A copy of TargetRecordKey.hash_of as it stands at this migration: both must agree.
    text = f"{system_id}|{resource}|{key}".encode("utf-8", "replace")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big", signed=True)


def convert(apps, schema_editor):
    old_key = apps.get_model("sync", "OldTargetRecordKey")
    new_key = apps.get_model("sync", "TargetRecordKey")
    target_record = apps.get_model("sync", "TargetRecord")
    rows = old_key.objects.order_by("pk").values_list(
        "pk", "system_id", "resource", "key", "target_id"
    )
    after = 0
    while batch := list(rows.filter(pk__gt=after)[:BATCH]):
        after = batch[-1][0]
        wanted = {(system_id, resource, target_id) for _, system_id, resource, _, target_id in batch}
        record_of = {}
        for system_id, resource in {(s, r) for s, r, _ in wanted}:
            ids = [t for s, r, t in wanted if (s, r) == (system_id, resource)]
            record_of.update(
                ((system_id, resource, target_id), pk)
                for target_id, pk in target_record.objects.filter(
                    system_id=system_id, resource=resource, target_id__in=ids
                ).values_list("target_id", "pk")
            )
        new_key.objects.bulk_create(
            [
                new_key(key_hash=hash_of(system_id, resource, key), record_id=record)
                for _, system_id, resource, key, target_id in batch
                if (record := record_of.get((system_id, resource, target_id))) is not None
            ],
            ignore_conflicts=True,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0008_target_record_forms"),
    ]

    operations = [
        migrations.RenameModel("TargetRecordKey", "OldTargetRecordKey"),
        migrations.CreateModel(
            name="TargetRecordKey",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "key_hash",
                        "record",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("key_hash", models.BigIntegerField()),
                (
                    "record",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="sync.targetrecord",
                    ),
                ),
            ],
        ),
        # Undone, the old keys come back empty: `manage.py refresh_match_index` fills them.
        migrations.RunPython(convert, migrations.RunPython.noop),
        migrations.DeleteModel("OldTargetRecordKey"),
    ]
