"""Records that need a person, and everything that happened to them."""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from integration_console.sync.failures import NEEDS_ATTENTION, FailureKind
from integration_console.sync.models import Flow


class ReviewItem(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        RETRYING = "retrying", "Retrying"
        RESOLVED = "resolved", "Resolved"
        DISMISSED = "dismissed", "Dismissed"

    ACTIVE_STATUSES = NEEDS_ATTENTION
    ACTIONABLE_STATUSES = (Status.OPEN, Status.IN_PROGRESS)

    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, related_name="review_items")
    source_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=40, choices=FailureKind)
    status = models.CharField(max_length=20, choices=Status, default=Status.OPEN)
    reason = models.TextField()
    field_errors = models.JSONField(default=dict, blank=True)
    source_snapshot = models.JSONField(default=dict, blank=True)
    payload = models.JSONField(null=True, blank=True, help_text="The transformed payload.")
    target_response = models.JSONField(null=True, blank=True)
    existing_target_id = models.CharField(max_length=200, blank=True)
    target_id = models.CharField(max_length=200, blank=True)
    fingerprint = models.CharField(max_length=64, db_index=True)
    occurrences = models.PositiveIntegerField(default=1)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now_add=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_review_items",
    )
    resolution = models.TextField(blank=True)
    # The record's earlier item, when it had one that a person fixed: a failure after a fix
    # says so instead of starting from nothing.
    previous_item = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retry_requested_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Payload-sized fields stay out of history: every save would copy them again.
    history = HistoricalRecords(excluded_fields=["source_snapshot", "payload", "target_response"])

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "source_id"],
                condition=models.Q(status__in=NEEDS_ATTENTION),
                name="one_active_item_per_source_record",
            ),
        ]
        # The list is ordered by (-last_seen, -id) and read by keyset: each index ends with that
        # order, so a page (and any depth of page) is a short index range scan. Most reading is
        # of the items that still need attention (about a quarter of a year's items): those
        # orders are partial indexes on the active statuses, small and index-only for counts.
        # The trigram indexes for search are PostgreSQL-only: migration 0004 creates them.
        indexes = [
            models.Index(fields=["status", "kind"]),
            models.Index(fields=["-last_seen", "-id"], name="review_item_recent"),
            models.Index(fields=["status", "-last_seen", "-id"], name="review_item_status_recent"),
            models.Index(
                fields=["-last_seen", "-id"],
                condition=models.Q(status__in=NEEDS_ATTENTION),
                name="review_item_active_recent",
            ),
            models.Index(
                fields=["kind", "-last_seen", "-id"],
                condition=models.Q(status__in=NEEDS_ATTENTION),
                name="review_item_active_kind",
            ),
            models.Index(
                fields=["flow", "-last_seen", "-id"],
                condition=models.Q(status__in=NEEDS_ATTENTION),
                name="review_item_active_flow",
            ),
            models.Index(
                fields=["assignee", "-last_seen", "-id"],
                condition=models.Q(status__in=NEEDS_ATTENTION),
                name="review_item_active_assignee",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.source_id}"

    @property
    def is_actionable(self) -> bool:
        return self.status in self.ACTIONABLE_STATUSES or self.retry_is_stale

    @property
    def retry_is_stale(self) -> bool:
        """A retry that never answered (its job was lost with a worker) must not hold the item
        forever: after REVIEW_RETRY_STALE_AFTER seconds people can act on it again."""
        if self.status != self.Status.RETRYING or self.retry_requested_at is None:
            return False
        waited = timezone.now() - self.retry_requested_at
        return waited > timedelta(seconds=settings.REVIEW_RETRY_STALE_AFTER)

    @property
    def is_closed(self) -> bool:
        return self.status in (self.Status.RESOLVED, self.Status.DISMISSED)

    @staticmethod
    def fingerprint_for(flow_id: int, kind: str, field_errors: dict) -> str:
        """Items with the same flow, kind and failing fields are the same problem."""
        key = f"{flow_id}:{kind}:{','.join(sorted(field_errors))}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


class ReviewItemEvent(models.Model):
    """Append-only timeline of an item: what happened, who did it, and why."""

    class Action(models.TextChoices):
        OPENED = "opened", "Opened"
        RECURRED = "recurred", "Failed again"
        RETRY_REQUESTED = "retry_requested", "Retry requested"
        PAYLOAD_FIXED = "payload_fixed", "Payload corrected and retry requested"
        RETRY_FAILED = "retry_failed", "Retry failed"
        RESOLVED = "resolved", "Resolved"
        DISMISSED = "dismissed", "Dismissed"
        TAKEN = "taken", "Taken"
        ASSIGNED = "assigned", "Assigned"
        UNASSIGNED = "unassigned", "Unassigned"
        REOPENED = "reopened", "Reopened"
        COMMENTED = "commented", "Comment"

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=30, choices=Action)
    actor = models.CharField(max_length=150)
    note = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor}"


class BulkAction(models.Model):
    """One operator's action on many review items, executed by a job in batches. The UI reads
    this row whether RQ or a thread of the web process executes it."""

    class Action(models.TextChoices):
        RETRY = "retry", "Retry"
        DISMISS = "dismiss", "Dismiss"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        CANCELLING = "cancelling", "Cancelling"
        SUCCEEDED = "succeeded", "Succeeded"
        SUCCEEDED_WITH_FAILURES = "succeeded_with_failures", "Succeeded with refusals"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING, Status.CANCELLING)
    MAX_REFUSALS = 50  # the refusals kept on the row; the counts cover them all
    # A job writes a heartbeat at least every batch (and every few seconds within one): an
    # active action without one for this long has lost its job, and may be resumed.
    STALE_AFTER = timedelta(minutes=2)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="review_bulk_actions",
    )
    requested_at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=20, choices=Action)
    parameters = models.JSONField(
        default=dict, blank=True, help_text="What the action needs besides the items: a reason."
    )
    # The selection: the ticked items' ids, or the list's filters ("all matching"). The filters
    # are resolved to ids by the job, once, when it starts; the largest item id when it was
    # asked keeps items that arrived later out of it. item_ids then holds the frozen selection.
    filter_query = models.TextField(blank=True)
    all_matching = models.BooleanField(default=False)
    selection_bound_id = models.BigIntegerField(null=True, blank=True)
    item_ids = models.JSONField(default=list, blank=True)
    selection_frozen_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=30, choices=Status, default=Status.QUEUED)
    # Whoever holds the current token executes the action: every progress write is a
    # compare-and-set on it, so a job taken over after a crash is never written by the old one.
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    total = models.PositiveIntegerField(null=True, blank=True)
    done = models.PositiveIntegerField(
        default=0, help_text="Items processed so far, in order: where a resumed job goes on."
    )
    succeeded = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(
        default=0, help_text="Items whose status (or flow's stage) did not allow the action."
    )
    failed = models.PositiveIntegerField(
        default=0, help_text="Items the action failed on for a reason nobody foresaw (a bug)."
    )
    refusals = models.JSONField(
        default=list, blank=True, help_text="The first refusals: item id, record and reason."
    )
    error = models.TextField(blank=True, help_text="Why the whole action failed, if it did.")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of progress from the job executing it."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    resumes = models.PositiveIntegerField(
        default=0, help_text="Times the action was resumed after its job went quiet."
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            # A person's recent bulk actions, newest first.
            models.Index(fields=["requested_by", "-requested_at"], name="review_bulk_by_user"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} in bulk #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def is_stalled(self) -> bool:
        if self.status not in (self.Status.RUNNING, self.Status.CANCELLING):
            return False
        return self.heartbeat_at is None or timezone.now() - self.heartbeat_at > self.STALE_AFTER

    @property
    def percent_done(self) -> int:
        if not self.total:
            return 100 if self.total == 0 else 0
        return min(100, self.done * 100 // self.total)
