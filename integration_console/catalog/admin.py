import json

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from connectors.registry import connector_settings_examples

from . import services
from .models import (
    DataClass,
    FieldMap,
    FieldMapVersion,
    FieldRule,
    OwnershipRule,
    ResourceContract,
    System,
    ValueAlias,
)


@admin.register(System)
class SystemAdmin(SimpleHistoryAdmin):
    list_display = ["name", "connector", "base_url", "auth_env_var", "rate_limit_per_second"]
    list_filter = ["connector"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["check_it"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The settings field explains itself for the system's kind (every kind when adding).
        form = super().get_form(request, obj, change, **kwargs)
        examples = connector_settings_examples()
        if obj is not None and obj.connector in examples:
            examples = {obj.connector: examples[obj.connector]}
        if "settings" in form.base_fields:
            form.base_fields["settings"].help_text = format_html(
                "{} Examples by kind: {}",
                System._meta.get_field("settings").help_text,
                format_html_join(
                    "",
                    "<br><code>{}</code>: <code>{}</code>",
                    ((kind, json.dumps(example)) for kind, example in examples.items()),
                ),
            )
        return form

    @admin.display(description="Check it")
    def check_it(self, obj: System) -> str:
        if obj.pk is None:
            return "Save the system first."
        return format_html(
            '<a href="{}">Test the connection</a> (one page, nothing written) · '
            '<a href="{}">Browse its records</a>',
            reverse("sync:system_test", args=[obj.pk]),
            reverse("sync:system_browse", args=[obj.pk]),
        )


class OwnershipRuleInline(admin.TabularInline):
    model = OwnershipRule
    extra = 0


@admin.register(DataClass)
class DataClassAdmin(SimpleHistoryAdmin):
    list_display = ["label", "name", "field_count"]
    search_fields = ["name", "label"]
    inlines = [OwnershipRuleInline]

    @admin.display(description="fields")
    def field_count(self, obj: DataClass) -> int:
        return len(obj.fields)


@admin.register(OwnershipRule)
class OwnershipRuleAdmin(SimpleHistoryAdmin):
    list_display = ["data_class", "field", "owner", "note"]
    list_filter = ["data_class", "owner"]
    search_fields = ["field", "note"]


class FieldMapVersionInline(admin.TabularInline):
    """The map's versions, read only: they change through their own page and its actions."""

    model = FieldMapVersion
    fields = ["number", "status", "author", "approved_by", "approved_at", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FieldMap)
class FieldMapAdmin(SimpleHistoryAdmin):
    list_display = ["name", "data_class", "source_system", "target_system", "active_version"]
    list_filter = ["data_class", "source_system", "target_system"]
    search_fields = ["name"]
    inlines = [FieldMapVersionInline]
    actions = ["new_draft"]

    @admin.action(
        description="Start a new draft version (copy of the active one)",
        permissions=["add_version"],
    )
    def new_draft(self, request, queryset) -> None:
        for field_map in queryset:
            draft = services.field_map_version_draft(field_map=field_map, user=request.user)
            self.message_user(request, f"{draft} drafted from the active version.")

    def has_add_version_permission(self, request) -> bool:
        return request.user.has_perm("catalog.add_fieldmapversion")


RULE_COLUMNS = [
    "position",
    "source_path",
    "target_path",
    "transform",
    "required",
    "create_only",
    "conflict_rule",
]


class FieldRuleInline(admin.TabularInline):
    model = FieldRule
    fields = RULE_COLUMNS
    extra = 0

    def has_add_permission(self, request, obj=None) -> bool:
        return super().has_add_permission(request, obj) and services.rules_are_editable(obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and services.rules_are_editable(obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and services.rules_are_editable(obj)


@admin.register(FieldMapVersion)
class FieldMapVersionAdmin(SimpleHistoryAdmin):
    """Drafts are edited here; submitting and approving are actions, so that the status
    only moves the way change control allows."""

    list_display = ["field_map", "number", "status", "author", "approved_by", "created_at"]
    list_filter = ["status", "field_map"]
    search_fields = ["field_map__name", "note"]
    # The map first, as before its change-control fields moved to a shared base model.
    fields = ["field_map", "number", "status", "note", "author", "approved_by", "approved_at"]
    inlines = [FieldRuleInline]
    actions = ["submit", "approve"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        fixed = ["status", "author", "approved_by", "approved_at", "created_at"]
        return fixed if obj is None else ["field_map", "number", *fixed]

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and services.rules_are_editable(obj)

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm(services.APPROVE_PERMISSION)

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Submit for approval", permissions=["change"])
    def submit(self, request, queryset) -> None:
        self._each(request, queryset, services.field_map_version_submit, "submitted")

    @admin.action(description="Approve (makes it the active version)", permissions=["approve"])
    def approve(self, request, queryset) -> None:
        self._each(request, queryset, services.field_map_version_approve, "approved and active")

    def _each(self, request, queryset, step, done: str) -> None:
        for version in queryset:
            try:
                step(version=version, user=request.user)
            except services.ChangeControlError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
            else:
                self.message_user(request, f"{version} {done}.")


@admin.register(FieldRule)
class FieldRuleAdmin(SimpleHistoryAdmin):
    list_display = ["version", *RULE_COLUMNS]
    list_filter = ["version__field_map", "conflict_rule", "required"]
    search_fields = ["source_path", "target_path"]

    def has_change_permission(self, request, obj=None) -> bool:
        version = obj.version if obj else None
        return super().has_change_permission(request, obj) and services.rules_are_editable(version)

    def has_delete_permission(self, request, obj=None) -> bool:
        version = obj.version if obj else None
        return super().has_delete_permission(request, obj) and services.rules_are_editable(version)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "version":
            kwargs["queryset"] = FieldMapVersion.objects.filter(status=FieldMapVersion.Status.DRAFT)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(ValueAlias)
class ValueAliasAdmin(SimpleHistoryAdmin):
    """The alias tables transforms read instead of guessing ("country": "UK" -> "GB")."""

    list_display = ["table", "alias", "value", "note"]
    list_filter = ["table"]
    search_fields = ["alias", "value", "note"]


@admin.register(ResourceContract)
class ResourceContractAdmin(SimpleHistoryAdmin):
    """What a system's records look like. Drafts are edited here (or inferred from a sample,
    an action the sync app adds, since reading records takes a connector); submitting and
    approving are actions, so that the status only moves the way change control allows."""

    list_display = ["system", "resource", "number", "status", "author", "approved_by", "created_at"]
    list_filter = ["status", "system"]
    search_fields = ["resource", "note"]
    # In the order they read, as before their change-control fields moved to a base model.
    fields = [
        "system",
        "resource",
        "number",
        "status",
        "fields",
        "note",
        "author",
        "approved_by",
        "approved_at",
        "field_summary",
    ]
    actions = ["submit", "approve"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        fixed = ["number", "status", "author", "approved_by", "approved_at", "field_summary"]
        return fixed if obj is None else ["system", "resource", *fixed]

    @admin.display(description="as read")
    def field_summary(self, obj: ResourceContract) -> str:
        lines = []
        for name, spec in (obj.fields or {}).items():
            spec = spec if isinstance(spec, dict) else {}
            words = [str(spec.get("type", "?")), "required" if spec.get("required") else "optional"]
            if spec.get("values"):
                words.append(f"one of {', '.join(map(str, spec['values']))}")
            if spec.get("sensitive"):
                words.append("sensitive")
            lines.append(f"{name}: {', '.join(words)}")
        return "; ".join(lines) or "No fields yet."

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and services.contract_is_editable(obj)

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm(services.CONTRACT_APPROVE_PERMISSION)

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.author = request.user
            obj.number = services.next_contract_number(system=obj.system, resource=obj.resource)
        super().save_model(request, obj, form, change)

    @admin.action(description="Submit for approval", permissions=["change"])
    def submit(self, request, queryset) -> None:
        self._each(request, queryset, services.resource_contract_submit, "submitted")

    @admin.action(description="Approve (records are checked against it)", permissions=["approve"])
    def approve(self, request, queryset) -> None:
        self._each(request, queryset, services.resource_contract_approve, "approved and active")

    def _each(self, request, queryset, step, done: str) -> None:
        for contract in queryset:
            try:
                step(contract=contract, user=request.user)
            except services.ChangeControlError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
            else:
                self.message_user(request, f"{contract} {done}.")
