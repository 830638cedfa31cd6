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
