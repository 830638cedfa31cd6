from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from integration_console.web.admin import ReadOnlyAdminMixin

from .models import AuditEntry, Flow, RecordLink, SyncRun


@admin.register(Flow)
class FlowAdmin(SimpleHistoryAdmin):
    list_display = [
        "name",
        "source_system",
        "source_resource",
        "target_system",
        "target_resource",
        "field_map",
        "mode",
        "stage",
        "enabled",
    ]
    list_filter = ["stage", "mode", "enabled", "source_system", "target_system"]
    search_fields = ["name"]


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "flow",
        "status",
        "stage",
        "queued_at",
        "read_count",
        "created_count",
        "updated_count",
        "skipped_count",
        "failed_count",
        "executed_by",
    ]
    list_filter = ["status", "stage", "flow"]
    date_hierarchy = "queued_at"


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "flow",
        "source_id",
        "action",
        "outcome",
        "target_id",
        "failure_kind",
        "attempt",
        "actor",
    ]
    list_filter = ["outcome", "action", "failure_kind", "flow"]
    search_fields = ["source_id", "target_id", "failure_reason"]
    date_hierarchy = "created_at"


@admin.register(RecordLink)
class RecordLinkAdmin(SimpleHistoryAdmin):
    list_display = [
        "source_system",
        "source_id",
        "target_system",
        "target_id",
        "data_class",
        "updated_at",
    ]
    list_filter = ["data_class", "source_system", "target_system"]
    search_fields = ["source_id", "target_id"]
