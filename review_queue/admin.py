from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connections, transaction
from django.db.models import JSONField
from django.utils.functional import cached_property
from simple_history.admin import SimpleHistoryAdmin

from integration_console.web.admin import ReadOnlyAdminMixin

from .models import (
    BulkAction,
    ReviewItem,
    ReviewItemComment,
    ReviewItemEvent,
    ReviewSla,
    RuleFix,
)
from .sla import review_sla_apply_after_change

# What a list of items never shows: the JSON columns, payload-sized some of them.
PAYLOAD_FIELDS = tuple(
    field.name for field in ReviewItem._meta.concrete_fields if isinstance(field, JSONField)
)


class EstimatedCountPaginator(Paginator):
    """The admin's pages of a table of a million rows without a COUNT(*) over all of them.

    On PostgreSQL the unfiltered list takes the row count the planner keeps for the table
    (``pg_class.reltuples``, renewed by ANALYZE and autovacuum: close, not exact) once that is
    above ESTIMATE_ABOVE rows; below it, and for every filtered list or search (which the
    table's indexes answer), the count is exact. Elsewhere (SQLite) it is always exact."""

    ESTIMATE_ABOVE = 100_000

    @cached_property
    def count(self) -> int:
        rows = self.object_list
        query = getattr(rows, "query", None)
        if query is not None and not query.where and not query.distinct:
            estimate = _estimated_rows(rows.db, rows.model._meta.db_table)
            if estimate is not None and estimate > self.ESTIMATE_ABOVE:
                return estimate
        return super().count


def _estimated_rows(alias: str, table: str) -> int | None:
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        found = cursor.fetchone()
    # -1: never analysed yet.
    return found[0] if found and found[0] >= 0 else None


class ReviewItemChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        return super().get_queryset(request, exclude_parameters).defer(*PAYLOAD_FIELDS)


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
    # At a million items (bench/queue_list.py): no COUNT(*) of the whole table, neither for
    # the pages (EstimatedCountPaginator) nor for the "n total" beside a filtered count; the
    # flow and the assignee in the same query as the rows; no payload read for the list. The
    # order is the model's, (-last_seen, -id): indexes in that order (alone, or after the
    # status) read a page without sorting the table.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_select_related = ["flow", "assignee"]

    def get_changelist(self, request, **kwargs):
        return ReviewItemChangeList


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


@admin.register(ReviewItemComment)
class ReviewItemCommentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read only: comments are written on the item's page, where they are part of its
    timeline."""

    list_display = ["created_at", "item", "author", "excerpt"]
    list_select_related = ["item", "author"]
    search_fields = ["body", "item__source_id"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        rows = super().get_queryset(request).select_related("item", "author")
        return rows.defer(*(f"item__{name}" for name in PAYLOAD_FIELDS))

    @admin.display(description="comment")
    def excerpt(self, comment: ReviewItemComment) -> str:
        return comment.body if len(comment.body) <= 80 else f"{comment.body[:79]}…"


@admin.register(RuleFix)
class RuleFixAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read only: a fix is asked from a group's page, and the approval of its draft starts
    the retry of the group's records (review_queue/groups.py)."""

    list_display = [
        "id",
        "fingerprint",
        "flow",
        "draft_version",
        "status",
        "requested_by",
        "requested_at",
        "rerun_at",
        "bulk_action",
    ]
    list_filter = ["status", "flow"]
    list_select_related = ["flow", "draft_version__field_map", "requested_by", "bulk_action"]
    search_fields = ["fingerprint"]

    def get_queryset(self, request):
        # Item ids by the thousand, on the fix and on its bulk action: read only when shown.
        rows = super().get_queryset(request).select_related(*self.list_select_related)
        return rows.defer("item_ids", "bulk_action__item_ids")


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
