"""The three roles and their permissions. Views check permissions, never group names.

The role groups were first created by review_queue's migration 0002, which keeps its own copy of
these lists as they were then. This module is the live definition: after every migrate (and
flush), ``sync_roles_after_migrate`` brings the groups in step with it, so a permission added
here, or a model added to an admin app, reaches existing databases too."""

from typing import Any

from django.apps import apps as global_apps
from django.apps.registry import Apps

OPERATOR = "operator"
BUSINESS_OWNER = "business owner"
ADMIN = "admin"
# Business owners and admins work in the Django admin (field maps, systems): they are staff.
STAFF_ROLES = (BUSINESS_OWNER, ADMIN)

_OPERATOR_PERMISSIONS = [
    "review_queue.view_reviewitem",
    "review_queue.change_reviewitem",
    "review_queue.view_reviewitemevent",
    "sync.view_flow",
    "sync.view_syncrun",
    "sync.add_syncrun",
    "sync.view_auditentry",
    "sync.view_recordlink",
    "catalog.view_system",
    "catalog.view_dataclass",
    "catalog.view_ownershiprule",
    "catalog.view_fieldmap",
    "catalog.view_fieldmapversion",
    "catalog.view_fieldrule",
    "catalog.view_resourcecontract",
]
_BUSINESS_OWNER_PERMISSIONS = [
    *_OPERATOR_PERMISSIONS,
    "catalog.add_fieldmapversion",
    "catalog.change_fieldmapversion",
    "catalog.approve_fieldmapversion",
    "catalog.add_fieldrule",
    "catalog.change_fieldrule",
    "catalog.delete_fieldrule",
    "catalog.add_resourcecontract",
    "catalog.change_resourcecontract",
    "catalog.approve_resourcecontract",
]
# Admins hold every permission of these apps; django_rq's one permission opens the RQ dashboard.
ADMIN_APPS = ("catalog", "sync", "review_queue", "auth", "django_rq")

ROLE_PERMISSIONS: dict[str, list[str]] = {
    OPERATOR: _OPERATOR_PERMISSIONS,
    BUSINESS_OWNER: _BUSINESS_OWNER_PERMISSIONS,
}


def missing_permissions(permission_model: Any) -> list[str]:
    """The permissions the roles name that the database does not hold (yet)."""
    return _missing(_permissions_by_code(permission_model))


def sync_roles(group_model: Any, permission_model: Any) -> None:
    """Create or update the role groups so that each holds exactly its permissions. Takes model
    classes, so historical ones work too. Idempotent. Raises ``LookupError`` naming any
    permission the roles name that the database lacks."""
    by_code = _permissions_by_code(permission_model)
    missing = _missing(by_code)
    if missing:
        raise LookupError(f"The roles name permissions that do not exist: {', '.join(missing)}")
    for role, codes in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.set([by_code[code] for code in codes])
    admin_group, _ = group_model.objects.get_or_create(name=ADMIN)
    admin_group.permissions.set(
        permission_model.objects.filter(content_type__app_label__in=ADMIN_APPS)
    )


def sync_roles_after_migrate(*, apps: Apps = global_apps, **kwargs: object) -> None:
    """post_migrate receiver (also sent after a flush): keep the role groups in step with this
    module. Does nothing after a partial migrate, or one backwards, that leaves some of the
    roles' permissions uncreated; the next full migrate brings the groups in step."""
    try:
        group_model = apps.get_model("auth", "Group")
        permission_model = apps.get_model("auth", "Permission")
    except LookupError:  # auth is not migrated
        return
    if not missing_permissions(permission_model):
        sync_roles(group_model, permission_model)


def _permissions_by_code(permission_model: Any) -> dict[str, Any]:
    permissions = permission_model.objects.select_related("content_type")
    return {f"{p.content_type.app_label}.{p.codename}": p for p in permissions}


def _missing(by_code: dict[str, Any]) -> list[str]:
    named = {code for codes in ROLE_PERMISSIONS.values() for code in codes}
    return sorted(named - by_code.keys())
