from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from integration_console.web.admin import ReadOnlyAdminMixin

from .models import BulkAction, ReviewItem, ReviewItemEvent


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
