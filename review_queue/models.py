"""Records that need a person, and everything that happened to them."""

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from integration_console.catalog.models import FieldMapVersion
from integration_console.sync.failures import NEEDS_ATTENTION, FailureKind
from integration_console.sync.models import Flow

from .fingerprints import failure_fingerprint


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
    # A possible duplicate's candidates in the target, best first, each with its score field
    # by field: [{"target_id", "values", "score": {"total", "fields": [...]}}].
    candidates = models.JSONField(default=list, blank=True)
    target_id = models.CharField(max_length=200, blank=True)
    fingerprint = models.CharField(
        max_length=64,
        db_index=True,
        help_text="The failure's cause (review_queue/fingerprints.py): items that share it are "
        "one group.",
    )
    # Python's default for rows made here, the database's for rows written by COPY (bench/).
    cause = models.CharField(
        max_length=255,
        blank=True,
        default="",
        db_default="",
        help_text="What failed, in a line: the first failing field and its message.",
    )
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
    # When the item's SLA (ReviewSla, the most specific active rule for its flow and kind) runs
    # out: first_seen + the rule's time. Set when the item opens or its kind changes, and
    # recomputed when a rule changes (review_queue/sla.py). Empty: no rule covers the item.
    sla_due_at = models.DateTimeField("SLA due", null=True, blank=True)
    # When its breach was e-mailed: a breach is escalated once.
    escalated_at = models.DateTimeField(null=True, blank=True)
    # Moves on with every change of the item (each change writes one event that records the
    # version it made): the item's page sends the version its operator saw, and an action on
    # a version that moved on since is refused with what changed (services.ItemChanged).
    version = models.PositiveIntegerField(default=1)
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
            # One group's items in the list's order; and, read whole, the groups page's one
            # GROUP BY: first_seen, flow and kind are key columns too (not INCLUDE, which
            # SQLite lacks), so counts, first/last seen and the filters need no table row.
            models.Index(
                fields=["fingerprint", "-last_seen", "-id", "first_seen", "flow", "kind"],
                condition=models.Q(status__in=NEEDS_ATTENTION),
                name="review_item_active_cause",
            ),
            # The ops overview, each read a bounded range or the active items alone, and
            # index-only: the active items by flow, kind and age, in one pass; items opened
            # per day and kind (the last 30 days of first_seen); items closed per day and
            # kind, and the time they took to resolve (the last 30 days of closed_at).
            models.Index(
                fields=["flow", "kind", "first_seen"],
                condition=models.Q(status__in=NEEDS_ATTENTION),
                name="review_item_active_age",
            ),
            models.Index(fields=["first_seen", "kind"], name="review_item_opened"),
            models.Index(
                fields=["closed_at", "kind", "status", "first_seen"],
                condition=models.Q(closed_at__isnull=False),
                name="review_item_closed",
            ),
            # Past their SLA: "active and sla_due_at < now" is a range of this small index
            # (the filter past_sla=1); the escalation job reads the second, which holds only
            # the breaches nobody has been told of yet, oldest first.
            models.Index(
                fields=["sla_due_at", "id"],
                condition=models.Q(status__in=NEEDS_ATTENTION, sla_due_at__isnull=False),
                name="review_item_active_sla",
            ),
            models.Index(
                fields=["sla_due_at", "id"],
                condition=models.Q(
                    status__in=NEEDS_ATTENTION,
                    sla_due_at__isnull=False,
                    escalated_at__isnull=True,
                ),
                name="review_item_sla_unescalated",
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

    @property
    def is_past_sla(self) -> bool:
        """Still needs attention, and its SLA ran out."""
        return (
            self.sla_due_at is not None
            and self.status in self.ACTIVE_STATUSES
            and self.sla_due_at < timezone.now()
        )

    @staticmethod
    def fingerprint_for(
        flow_id: int,
        kind: str,
        field_errors: dict,
        reason: str = "",
        record_ids: Iterable[str] = (),
    ) -> str:
        """Items with the same flow, kind, error code and failing fields are the same problem
        (review_queue/fingerprints.py)."""
        return failure_fingerprint(
            flow_id=flow_id,
            kind=kind,
            reason=reason,
            field_errors=field_errors,
            record_ids=record_ids,
        )


class ReviewSla(models.Model):
    """How long an item may wait for a person, per flow and kind, and who is told when it
    waited longer. The most specific active rule covers an item: flow and kind, then flow,
    then kind, then the default (neither). review_queue/sla.py applies and escalates them."""

    flow = models.ForeignKey(
        Flow,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="review_slas",
        help_text="Empty: every flow.",
    )
    kind = models.CharField(
        max_length=40, choices=FailureKind, blank=True, help_text="Empty: every kind."
    )
    within = models.DurationField(
        "resolve within",
        validators=[
            MinValueValidator(
                timedelta(minutes=1), "An SLA must give at least one minute (e.g. 4:00:00)."
            )
        ],
        help_text="Counted from the item's first failure. Hours as 4:00:00, days as 2 00:00:00.",
    )
    escalate_to = models.EmailField(
        blank=True,
        help_text="Who owns this data: a breach is e-mailed to the item's assignee, else to "
        "this address, else to the business owners (the role) with an e-mail address.",
    )
    active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "review SLA"
        ordering = ["flow__name", "kind", "id"]
        # One active rule per scope, else "the most specific rule" would be two. Two
        # constraints, because a NULL flow is distinct from every other in a UNIQUE index.
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "kind"],
                condition=models.Q(active=True, flow__isnull=False),
                name="one_active_sla_per_flow_and_kind",
                violation_error_message="There is already an active SLA for this flow and "
                "kind: edit that one, or make one of the two inactive.",
            ),
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(active=True, flow__isnull=True),
                name="one_active_sla_per_kind_for_every_flow",
                violation_error_message="There is already an active SLA for every flow and "
                "this kind: edit that one, or make one of the two inactive.",
            ),
        ]

    def __str__(self) -> str:
        flow = self.flow.name if self.flow_id else "every flow"
        kind = self.get_kind_display() if self.kind else "every kind"
        return f"{flow} · {kind}: within {self.within}"

    @property
    def specificity(self) -> int:
        """Flow and kind (3) > flow (2) > kind (1) > the default (0)."""
        return 2 * (self.flow_id is not None) + bool(self.kind)


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
        ESCALATED = "escalated", "Escalated (past its SLA)"
        CREATED_ANYWAY = "created_anyway", "Not a duplicate: create anyway"
        MERGE_REQUESTED = "merge_requested", "Merge requested"

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=30, choices=Action)
    actor = models.CharField(max_length=150)
    note = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    # The item's version once this event's change was made: "what changed since version N"
    # is the events above N. Empty for events written before items had versions.
    item_version = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The item's timeline, read newest first by keyset: a range scan at any depth, even
            # for a record that has failed on every run for a year.
            models.Index(fields=["item", "created_at", "id"], name="review_event_item_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor}"

    def save(self, *args, **kwargs) -> None:
        # Every service writes an item's event right after saving the item's change, so the
        # item in hand holds the version that change made.
        if self.item_version is None and self._state.adding:
            self.item_version = self.item.version
        super().save(*args, **kwargs)


class ReviewItemComment(models.Model):
    """A person's note on an item. Not a change of the item: its version stays as it is."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="review_item_comments",
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["item", "created_at", "id"], name="review_comment_item_time"),
        ]

    def __str__(self) -> str:
        return f"Comment on #{self.item_id} by {self.author}"


class BulkAction(models.Model):
    """One operator's action on many review items, executed by a job in batches. The UI reads
    this row whether RQ or a thread of the web process executes it."""

    class Action(models.TextChoices):
        RETRY = "retry", "Retry"
        DISMISS = "dismiss", "Dismiss"
        ASSIGN = "assign", "Assign"
        LINK_BEST = "link_best", "Link to the best candidate"
        MERGE_BEST = "merge_best", "Merge into the best candidate"

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


class RuleFix(models.Model):
    """A person's request to fix the field-map rule behind a group of review items: the draft
    version that fixes it, and the group's items when it was asked. Once that version is
    approved, the records of those items that still need attention are retried, in one bulk
    action (review_queue/groups.py)."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for the draft's approval"
        RERUN = "rerun", "Re-run started"

    fingerprint = models.CharField(max_length=64, db_index=True)
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="+")
    draft_version = models.ForeignKey(
        FieldMapVersion, on_delete=models.CASCADE, related_name="review_rule_fixes"
    )
    rule_targets = models.JSONField(
        default=list, blank=True, help_text="The target paths of the rules found failing."
    )
    item_ids = models.JSONField(
        default=list, blank=True, help_text="The group's items that needed attention when asked."
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=20, choices=Status, default=Status.WAITING)
    bulk_action = models.ForeignKey(
        BulkAction,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The retry of the group's records, started when the draft was approved.",
    )
    rerun_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"Fix of {self.draft_version} for group {self.fingerprint[:12]}"


class QueueExport(models.Model):
    """A CSV file of the review items the queue's filters select, written by a job outside the
    request (review_queue/exports.py). Its progress page reads this row, whatever runs the job."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)
    # The job writes a heartbeat every batch (a fraction of a second each): a running export
    # without one for this long has lost its job.
    STALE_AFTER = timedelta(minutes=2)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="review_queue_exports",
    )
    requested_at = models.DateTimeField(default=timezone.now)
    filter_query = models.TextField(blank=True, help_text="The queue list's query string.")
    status = models.CharField(max_length=20, choices=Status, default=Status.QUEUED)
    rows_written = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Rows in the file, once known (counting first costs a scan).",
    )
    file_name = models.CharField(
        max_length=200,
        blank=True,
        help_text="The file in settings.EXPORTS_DIR; empty once deleted.",
    )
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["requested_by", "-requested_at"], name="review_export_by_user"),
        ]

    def __str__(self) -> str:
        return f"Export #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def is_stalled(self) -> bool:
        return (
            self.status == self.Status.RUNNING
            and self.heartbeat_at is not None
            and timezone.now() - self.heartbeat_at > self.STALE_AFTER
        )

    @property
    def download_name(self) -> str:
        return f"review-items-{self.requested_at:%Y-%m-%d}.csv"


class SavedView(models.Model):
    """A user's named filter of the queue list: the list's query string, as validated by
    ReviewItemFilter when it was saved (review_queue/saved_views.py)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_saved_views"
    )
    name = models.CharField(max_length=80)
    query = models.TextField(blank=True, help_text="The queue list's query string.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="review_saved_view_unique_name")
        ]

    def __str__(self) -> str:
        return self.name
