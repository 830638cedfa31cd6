from django.contrib import admin, messages
from simple_history.admin import SimpleHistoryAdmin

from integration_console.catalog.admin import ResourceContractAdmin
from integration_console.catalog.models import ResourceContract, System
from integration_console.web.admin import ReadOnlyAdminMixin

from .contracts import ContractSampleError, resource_contract_infer
from .models import AuditEntry, Flow, RecordLink, SyncRun

INFER_PERMISSION = "catalog.add_resourcecontract"


def _infer_contract_drafts(model_admin, request, resources: set[tuple[System, str]]) -> None:
    for system, resource in sorted(resources, key=lambda pair: (pair[0].name, pair[1])):
        try:
            draft = resource_contract_infer(system=system, resource=resource, user=request.user)
        except ContractSampleError as exc:
            model_admin.message_user(request, str(exc), level=messages.ERROR)
        else:
            model_admin.message_user(
                request, f"{draft} drafted from a sample: check its fields, then submit it."
            )


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
    actions = ["infer_source_contract"]

    @admin.action(
        description="Infer a contract draft of the source resource from a sample",
        permissions=["infer_contract"],
    )
    def infer_source_contract(self, request, queryset) -> None:
        flows = queryset.select_related("source_system")
        _infer_contract_drafts(self, request, {(f.source_system, f.source_resource) for f in flows})

    def has_infer_contract_permission(self, request) -> bool:
        return request.user.has_perm(INFER_PERMISSION)


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


class SampledResourceContractAdmin(ResourceContractAdmin):
    """catalog's contract admin and the action catalog cannot hold: inferring a draft reads
    records through a connector, which sync builds (imports go sync -> catalog only)."""

    actions = [*ResourceContractAdmin.actions, "infer_draft"]

    @admin.action(description="Infer a new draft from a sample", permissions=["infer_contract"])
    def infer_draft(self, request, queryset) -> None:
        contracts = queryset.select_related("system")
        _infer_contract_drafts(self, request, {(c.system, c.resource) for c in contracts})

    def has_infer_contract_permission(self, request) -> bool:
        return request.user.has_perm(INFER_PERMISSION)


admin.site.unregister(ResourceContract)
admin.site.register(ResourceContract, SampledResourceContractAdmin)
