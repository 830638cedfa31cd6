"""The demo world: a simulated CRM and ERP, a customer data class, an active field map, a flow,
and one user per role. Used by ``manage.py demo`` and by the tests that replay the demo."""

import logging
from dataclasses import dataclass

from django.contrib.auth.models import Group, Permission, User
from django.db import transaction
from django.utils import timezone

from connectors.errors import ConnectorError
from integration_console import roles
from integration_console.catalog.models import (
    DataClass,
    FieldMap,
    FieldMapVersion,
    FieldRule,
    OwnershipRule,
    System,
)
from integration_console.matching.spec import default_people_spec
from integration_console.sync.models import Flow
from integration_console.sync.services.matching import match_index_refresh

logger = logging.getLogger(__name__)

FLOW_NAME = "CRM contacts → ERP customers"
ERP_COUNTRIES = ["DE", "FR", "NL", "BE", "AT", "CH", "GB", "IE", "ES", "IT", "US"]

CUSTOMER_SCHEMA = {
    "fields": [
        {"name": "given_name", "label": "Given name", "type": "string", "required": True},
        {"name": "family_name", "label": "Family name", "type": "string", "required": True},
        {
            "name": "email",
            "label": "Email",
            "type": "string",
            "required": True,
            "pattern": r"[^@\s]+@[^@\s]+\.[^@\s]+",
        },
        {"name": "phone", "label": "Phone", "type": "string"},
        {
            "name": "country_code",
            "label": "Country",
            "type": "string",
            "required": True,
            "allowed_values": ERP_COUNTRIES,
        },
        {"name": "company", "label": "Company", "type": "string"},
        {"name": "crm_ref", "label": "CRM reference", "type": "string"},
    ]
}

# source path, target path, transforms, required in the source
CRM_TO_ERP_RULES = [
    ("first_name", "given_name", "trim", True),
    ("last_name", "family_name", "trim", True),
    ("email", "email", "trim|lower|empty_to_none", False),
    ("phone", "phone", "trim|empty_to_none", False),
    ("country", "country_code", "trim|country_iso", False),
    ("company", "company", "trim|empty_to_none", False),
    ("id", "crm_ref", "", True),
]


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str


DEMO_USERS = [
    DemoUser("olivia", "olivia-demo", roles.OPERATOR),
    DemoUser("bruno", "bruno-demo", roles.BUSINESS_OWNER),
    DemoUser("ada", "ada-demo", roles.ADMIN),
]


# Which customer field plays which part in matching (integration_console.matching).
CUSTOMER_MATCH_ROLES = {
    "given_name": "given_name",
    "family_name": "family_name",
    "email": "email",
    "phone": "phone",
    "country": "country_code",
    "company": "company",
}


@transaction.atomic
def seed_demo_world(*, simulator_url: str, matching: bool = True) -> Flow:
    """Create (or bring up to date) the demo world against a simulator at ``simulator_url``.
    Idempotent: running it twice leaves one of everything. With ``matching``, customers are
    matched against the ERP's before they are created, and the match index is filled from
    the ERP; without, a record link is the only identity (as before matching existed)."""
    roles.sync_roles(Group, Permission)
    users = {user.role: _demo_user(user) for user in DEMO_USERS}
    base = simulator_url.rstrip("/")
    crm, _ = System.objects.update_or_create(
        name="Simulated CRM",
        defaults={
            "base_url": f"{base}/crm/api",
            "auth_env_var": "IC_CRM_API_TOKEN",
            "description": "Contacts, owned by sales. Played by the built-in simulator.",
        },
    )
    erp, _ = System.objects.update_or_create(
        name="Simulated ERP",
        defaults={
            "base_url": f"{base}/erp/api",
            "auth_env_var": "IC_ERP_API_TOKEN",
            # The simulated ERP creates up to 100 customers a call (runs write in batches), and
            # archives and restores a customer (how a merge removes one, and its undo).
            "settings": {
                "batch": {"url": "{resource}/batch"},
                "archive": "{resource}/{id}/archive",
                "restore": "{resource}/{id}/restore",
                "delete": True,
            },
            "description": "Customers, billed by finance. Played by the built-in simulator.",
        },
    )
    customer, _ = DataClass.objects.update_or_create(
        name="customer",
        defaults={
            "label": "Customer",
            "schema": CUSTOMER_SCHEMA,
            "matching": (default_people_spec(CUSTOMER_MATCH_ROLES).to_config() if matching else {}),
        },
    )
    OwnershipRule.objects.update_or_create(
        data_class=customer, field="", defaults={"owner": crm, "note": "Sales owns customers."}
    )
    OwnershipRule.objects.update_or_create(
        data_class=customer,
        field="company",
        defaults={"owner": erp, "note": "Finance keeps the legal company name."},
    )
    field_map, _ = FieldMap.objects.update_or_create(
        name="CRM contact → ERP customer",
        defaults={"data_class": customer, "source_system": crm, "target_system": erp},
    )
    if not field_map.versions.exists():
        version = FieldMapVersion.objects.create(
            field_map=field_map,
            number=1,
            status=FieldMapVersion.Status.ACTIVE,
            note="First mapping, agreed with sales and finance.",
            author=users[roles.BUSINESS_OWNER],
            approved_by=users[roles.ADMIN],
            approved_at=timezone.now(),
        )
        for position, (source, target, transform, required) in enumerate(CRM_TO_ERP_RULES):
            FieldRule.objects.create(
                version=version,
                position=position,
                source_path=source,
                target_path=target,
                transform=transform,
                required=required,
            )
    flow, _ = Flow.objects.update_or_create(
        name=FLOW_NAME,
        defaults={
            "data_class": customer,
            "source_system": crm,
            "source_resource": "contacts",
            "target_system": erp,
            "target_resource": "customers",
            "field_map": field_map,
            "mode": Flow.Mode.FULL,
            "stage": Flow.Stage.LIVE,
        },
    )
    if matching:
        try:
            match_index_refresh(flow=flow)
        except ConnectorError as exc:
            # The index also fills from the console's own writes; `refresh_match_index` reads
            # the ERP again once it answers.
            logger.warning("Could not read %s into the match index: %s", erp, exc.message)
    return flow


def _demo_user(demo: DemoUser) -> User:
    user, _ = User.objects.get_or_create(username=demo.username)
    user.set_password(demo.password)
    user.is_staff = demo.role in roles.STAFF_ROLES
    user.save()
    user.groups.set([Group.objects.get(name=demo.role)])
    return user
