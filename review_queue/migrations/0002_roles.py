"""Create the role groups (operator, business owner, admin) with their permissions.

Frozen: the lists below are the roles as they were when this migration was written, and it
imports no live code. integration_console/roles.py is the live definition; a post_migrate
receiver brings the groups in step with it after every migrate."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OPERATOR_PERMISSIONS = [
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
ROLE_PERMISSIONS = {
    "operator": OPERATOR_PERMISSIONS,
    "business owner": [
        *OPERATOR_PERMISSIONS,
        "catalog.add_fieldmapversion",
        "catalog.change_fieldmapversion",
        "catalog.approve_fieldmapversion",
        "catalog.add_fieldrule",
        "catalog.change_fieldrule",
        "catalog.delete_fieldrule",
    ],
}
# The admin group holds every permission of these apps.
ADMIN_APPS = ("catalog", "sync", "review_queue", "auth")


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = []
        for code in codes:
            app_label, codename = code.split(".")
            permissions.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(permissions)
    admin_group, _ = Group.objects.get_or_create(name="admin")
    admin_group.permissions.set(Permission.objects.filter(content_type__app_label__in=ADMIN_APPS))


class Migration(migrations.Migration):
    dependencies = [
        ("review_queue", "0001_initial"),
        ("catalog", "0001_initial"),
        ("sync", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
