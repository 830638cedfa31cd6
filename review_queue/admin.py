from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from .models import ReviewItem, ReviewItemEvent


class ReviewItemEventInline(admin.TabularInline):
    model = ReviewItemEvent
    fields = ["created_at", "action", "actor", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ReviewItem)
class ReviewItemAdmin(SimpleHistoryAdmin):
    list_display = ["source_id", "flow", "kind", "status", "occurrences", "assignee", "last_seen"]
    list_filter = ["status", "kind", "flow"]
    search_fields = ["source_id", "reason"]
    readonly_fields = ["fingerprint", "first_seen", "last_seen", "occurrences"]
    inlines = [ReviewItemEventInline]
