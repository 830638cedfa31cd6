from django.contrib import admin
from django.db import transaction
from simple_history.admin import SimpleHistoryAdmin

from integration_console.web.admin import ReadOnlyAdminMixin

from .models import BulkAction, ReviewItem, ReviewItemEvent, ReviewSla
from .sla import review_sla_apply_after_change


class ReviewItemEventInline(admin.TabularInline):
    model = ReviewItemEvent
    fields = ["created_at", "action", "actor", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReviewItem)
class ReviewItemAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    """Read only: items change through the queue's actions, which keep their timeline and the
    audit trail; an edit here would do neither."""

    list_display = ["source_id", "flow", "kind", "status", "occurrences", "assignee", "last_seen"]
    list_filter = ["status", "kind", "flow"]
    search_fields = ["source_id", "reason"]
    inlines = [ReviewItemEventInline]


@admin.register(BulkAction)
class BulkActionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read only: an action is started, cancelled and resumed from its page in the queue, and
    its row is written by its job."""

    list_display = [
        "id",
        "action",
        "requested_by",
        "requested_at",
        "status",
        "total",
        "done",
        "succeeded",
        "refused",
        "failed",
    ]
    list_filter = ["status", "action"]
    list_select_related = ["requested_by"]
    # The frozen selection can hold hundreds of thousands of ids: never read here.
    exclude = ["item_ids"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("item_ids")


@admin.register(ReviewSla)
class ReviewSlaAdmin(SimpleHistoryAdmin):
    """Saving or deleting a rule recomputes the due time of the active items in its scope
    (before and after the change), in batches, once the change is committed."""

    list_display = ["__str__", "flow", "kind", "within", "escalate_to", "active"]
    list_filter = ["active", "kind", "flow"]
    list_select_related = ["flow"]

    def save_model(self, request, obj, form, change) -> None:
        before = (form.initial.get("flow"), form.initial.get("kind", "")) if change else None
        super().save_model(request, obj, form, change)
        self._apply_after_commit(request, [before, (obj.flow_id, obj.kind)])

    def delete_model(self, request, obj) -> None:
        scope = (obj.flow_id, obj.kind)
        super().delete_model(request, obj)
        self._apply_after_commit(request, [scope])

    def delete_queryset(self, request, queryset) -> None:
        scopes = list(queryset.values_list("flow_id", "kind"))
        super().delete_queryset(request, queryset)
        self._apply_after_commit(request, scopes)

    def _apply_after_commit(self, request, scopes) -> None:
        def apply() -> None:
            count = review_sla_apply_after_change(scopes=[s for s in scopes if s is not None])
            self.message_user(request, f"The SLA due time of {count} active items was updated.")

        transaction.on_commit(apply)
