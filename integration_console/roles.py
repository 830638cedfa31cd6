"""The three roles and their permissions. Views check permissions, never group names."""

OPERATOR = "operator"
BUSINESS_OWNER = "business owner"
ADMIN = "admin"

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
]
_BUSINESS_OWNER_PERMISSIONS = [
    *_OPERATOR_PERMISSIONS,
    "catalog.add_fieldmapversion",
    "catalog.change_fieldmapversion",
    "catalog.approve_fieldmapversion",
    "catalog.add_fieldrule",
    "catalog.change_fieldrule",
    "catalog.delete_fieldrule",
]
ADMIN_APPS = ("catalog", "sync", "review_queue", "auth")

ROLE_PERMISSIONS: dict[str, list[str]] = {
    OPERATOR: _OPERATOR_PERMISSIONS,
    BUSINESS_OWNER: _BUSINESS_OWNER_PERMISSIONS,
}


def sync_roles(group_model, permission_model) -> None:
    """Create or update the role groups. Takes model classes so a migration can pass its own."""
    for role, codes in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        permissions = []
        for code in codes:
            app_label, codename = code.split(".")
            permissions.append(
                permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(permissions)
    admin_group, _ = group_model.objects.get_or_create(name=ADMIN)
    admin_group.permissions.set(
        permission_model.objects.filter(content_type__app_label__in=ADMIN_APPS)
    )
