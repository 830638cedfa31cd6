"""Migration sync 0009 turns the match index's text keys into hashes beside the record's row:
an index filled before it still finds its records after it, without reading the target again."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from integration_console.matching.spec import default_people_spec
from integration_console.sync.identify import Matching, _records_of_keys

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("sync", "0008_target_record_forms")]
AFTER = [("sync", "0009_target_record_key_hashes")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def back_to_the_latest():
    yield
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())


def test_the_keys_of_an_index_filled_before_the_migration_still_find_their_records():
    old = migrate(BEFORE)
    system = old.get_model("catalog", "System").objects.create(
        name="ERP", base_url="http://erp.invalid/api"
    )
    target_record, old_key = (
        old.get_model("sync", "TargetRecord"),
        old.get_model("sync", "TargetRecordKey"),
    )
    for target_id, email in (("E-1", "ada@example.org"), ("E-2", "bob@example.org")):
        target_record.objects.create(system=system, resource="customers", target_id=target_id)
        old_key.objects.create(
            system=system, resource="customers", key=f"email:{email}", target_id=target_id
        )
    # A key whose record is gone from the index (an index damaged by hand) is dropped.
    old_key.objects.create(
        system=system, resource="customers", key="email:gone@example.org", target_id="E-9"
    )

    new = migrate(AFTER)

    rows = dict(new.get_model("sync", "TargetRecord").objects.values_list("pk", "target_id"))
    assert new.get_model("sync", "TargetRecordKey").objects.count() == 2
    matching = Matching(default_people_spec(), system.pk, "customers")
    found = _records_of_keys(
        matching, ["email:ada@example.org", "email:bob@example.org", "email:gone@example.org"]
    )
    assert {key: [rows[r] for r in records] for key, records in found.items()} == {
        "email:ada@example.org": ["E-1"],
        "email:bob@example.org": ["E-2"],
    }
