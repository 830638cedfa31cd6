"""A flow from the simulated CRM into a real Tryton, set up as an admin would in the admin: a
Tryton system, a party data class with nested contact mechanisms and addresses, and a field map
that builds them. Used by the flow tests and by bench/tryton_parties.py."""

from connectors.simulator.world import ALLOWED_COUNTRIES
from integration_console.catalog.models import (
    DataClass,
    FieldMap,
    FieldMapVersion,
    FieldRule,
    System,
)
from integration_console.catalog.services import field_map_version_errors
from integration_console.sync.models import Flow

from .server import BareTryton, RunningTryton

PASSWORD_VARIABLE = "IC_TRYTON_PASSWORD"
PARTY_SCHEMA = {
    "fields": [
        {"name": "name", "type": "string", "required": True},
        {"name": "code", "type": "string", "required": True},
        {"name": "contact_mechanisms", "type": "list"},
        {"name": "addresses", "type": "list"},
    ]
}
# source path, target path, transforms, required, sent on create only
CRM_TO_TRYTON = [
    ("", "name", "template:{first_name} {last_name}|trim", True, False),
    ("id", "code", "", True, True),
    ("", "contact_mechanisms[0].type", "constant:email", False, False),
    ("email", "contact_mechanisms[0].value", "trim|lower", True, False),
    ("", "contact_mechanisms[1].type", "constant:phone", False, False),
    ("phone", "contact_mechanisms[1].value", "trim", True, False),
    ("country", "addresses[0].country", "trim|country_iso", True, False),
]


def crm_to_tryton_flow(crm: System, tryton: RunningTryton, bare: BareTryton) -> Flow:
    """The CRM's contacts into Tryton's parties; the Tryton password must be in the
    PASSWORD_VARIABLE environment variable when the flow runs."""
    have = {
        row["code"]
        for row in bare.call("model.country.country.search_read", [], 0, None, None, ["code"], {})
    }
    missing = [{"code": code, "name": code} for code in ALLOWED_COUNTRIES if code not in have]
    if missing:
        bare.call("model.country.country.create", missing, {})
    erp = System(
        name="Tryton",
        connector="tryton",
        base_url=tryton.base_url,
        auth_env_var=PASSWORD_VARIABLE,
        settings=tryton.settings,
    )
    erp.full_clean()
    erp.save()
    party = DataClass.objects.create(name="party", label="Party", schema=PARTY_SCHEMA)
    field_map = FieldMap.objects.create(
        name="CRM contact → Tryton party",
        data_class=party,
        source_system=crm,
        target_system=erp,
    )
    version = FieldMapVersion.objects.create(field_map=field_map, number=1)
    for position, (source, target, transform, required, create_only) in enumerate(CRM_TO_TRYTON):
        FieldRule.objects.create(
            version=version,
            position=position,
            source_path=source,
            target_path=target,
            transform=transform,
            required=required,
            create_only=create_only,
        )
    errors = field_map_version_errors(version=version)
    assert errors == [], errors
    version.status = FieldMapVersion.Status.ACTIVE
    version.save()
    flow = Flow(
        name="CRM contacts → Tryton parties",
        data_class=party,
        source_system=crm,
        source_resource="contacts",
        target_system=erp,
        target_resource="party.party",
        field_map=field_map,
    )
    flow.full_clean()
    flow.save()
    return flow
