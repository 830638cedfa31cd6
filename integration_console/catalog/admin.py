from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import DataClass, FieldMap, FieldMapVersion, FieldRule, OwnershipRule, System


@admin.register(System)
class SystemAdmin(SimpleHistoryAdmin):
    list_display = ["name", "connector", "base_url", "auth_env_var", "rate_limit_per_second"]
    list_filter = ["connector"]
    search_fields = ["name", "base_url"]


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
    model = FieldMapVersion
    fields = ["number", "status", "author", "approved_by", "approved_at", "note"]
    readonly_fields = ["approved_at"]
    extra = 0
    show_change_link = True


@admin.register(FieldMap)
class FieldMapAdmin(SimpleHistoryAdmin):
    list_display = ["name", "data_class", "source_system", "target_system", "active_version"]
    list_filter = ["data_class", "source_system", "target_system"]
    search_fields = ["name"]
    inlines = [FieldMapVersionInline]


RULE_COLUMNS = [
    "position",
    "source_path",
    "target_path",
    "transform",
    "required",
    "conflict_rule",
    "direction",
]


class FieldRuleInline(admin.TabularInline):
    model = FieldRule
    fields = RULE_COLUMNS
    extra = 0


@admin.register(FieldMapVersion)
class FieldMapVersionAdmin(SimpleHistoryAdmin):
    list_display = ["field_map", "number", "status", "author", "approved_by", "created_at"]
    list_filter = ["status", "field_map"]
    search_fields = ["field_map__name", "note"]
    inlines = [FieldRuleInline]


@admin.register(FieldRule)
class FieldRuleAdmin(SimpleHistoryAdmin):
    list_display = ["version", *RULE_COLUMNS]
    list_filter = ["version__field_map", "conflict_rule", "direction", "required"]
    search_fields = ["source_path", "target_path"]
