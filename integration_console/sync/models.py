"""Flows, their runs, the identity map and the audit trail."""

from croniter import croniter
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from integration_console.catalog.models import DataClass, FieldMap, FieldMapVersion, System


class Flow(models.Model):
    """Records of a data class, from a source system's resource to a target system's."""

    class Mode(models.TextChoices):
        FULL = "full", "Full"
        INCREMENTAL = "incremental", "Incremental (by cursor)"

    class Stage(models.TextChoices):
        READ_ONLY = "read_only", "Read only"
        DRY_RUN = "dry_run", "Dry run"
        LIMITED = "limited", "Limited"
        LIVE = "live", "Live"

    name = models.CharField(max_length=150, unique=True)
    data_class = models.ForeignKey(DataClass, on_delete=models.PROTECT, related_name="flows")
    source_system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="+")
    source_resource = models.CharField(max_length=100, help_text="e.g. contacts")
    target_system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="+")
    target_resource = models.CharField(max_length=100, help_text="e.g. customers")
    field_map = models.ForeignKey(FieldMap, on_delete=models.PROTECT, related_name="flows")
    mode = models.CharField(max_length=20, choices=Mode, default=Mode.FULL)
    stage = models.CharField(max_length=20, choices=Stage, default=Stage.LIVE)
    cursor = models.CharField(max_length=100, blank=True, help_text="Last seen updated_at.")
    schedule = models.CharField(
        max_length=100,
        blank=True,
        help_text="Cron expression in UTC, e.g. '*/15 * * * *'. Empty: the flow runs only when "
        "someone starts it. Schedules need the cron process (manage.py rqcron "
        "integration_console.sync.cron).",
    )
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    page_size = models.PositiveIntegerField(default=50)
    max_attempts = models.PositiveIntegerField(
        default=3, help_text="Attempts per record on transient errors before it is dead-lettered."
    )
    enabled = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.schedule and not croniter.is_valid(self.schedule):
            raise ValidationError({"schedule": "Not a cron expression, e.g. '*/15 * * * *'."})


class SyncRun(models.Model):
    """One execution of a flow. The UI reads this row whether RQ or the web process runs it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=20, choices=Status, default=Status.QUEUED)
    stage = models.CharField(max_length=20, choices=Flow.Stage)
    field_map_version = models.ForeignKey(
        FieldMapVersion, null=True, on_delete=models.PROTECT, related_name="+"
    )
    triggered_by = models.CharField(max_length=150)
    executed_by = models.CharField(
        max_length=200, blank=True, help_text="Worker process that executed the run."
    )
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of progress from the process running it."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    read_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-queued_at", "-id"]
        constraints = [
            # One run per flow at a time, however many workers there are.
            models.UniqueConstraint(
                fields=["flow"],
                condition=models.Q(status="running"),
                name="one_running_run_per_flow",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.flow} run #{self.pk}"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class RecordLink(models.Model):
    """The identity map: a source record and the target record it was written to."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="links")
    data_class = models.ForeignKey(DataClass, on_delete=models.PROTECT, related_name="+")
    source_system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="+")
    source_id = models.CharField(max_length=200)
    target_system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="+")
    target_id = models.CharField(max_length=200)
    payload_hash = models.CharField(max_length=64, help_text="Hash of what was last written.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["data_class", "source_system", "source_id", "target_system"],
                name="one_link_per_source_record_and_target",
            ),
        ]
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.source_system}:{self.source_id} → {self.target_system}:{self.target_id}"


class AuditEntry(models.Model):
    """Append-only: one row per attempted action on one record."""

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        SKIP = "skip", "Skip"
        LINK = "link", "Link"
        MERGE = "merge", "Merge"
        DISMISS = "dismiss", "Dismiss"

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        DRY_RUN = "dry_run", "Dry run (nothing written)"

    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, related_name="audit_entries")
    run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_entries"
    )
    source_id = models.CharField(max_length=200, db_index=True)
    target_id = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=20, choices=Action)
    payload_version = models.ForeignKey(
        FieldMapVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payload = models.JSONField(default=dict, help_text="Redacted.")
    outcome = models.CharField(max_length=20, choices=Outcome)
    failure_kind = models.CharField(max_length=40, blank=True)
    failure_reason = models.TextField(blank=True)
    field_errors = models.JSONField(default=dict, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    actor = models.CharField(max_length=150)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["flow", "source_id"])]

    def __str__(self) -> str:
        return f"{self.action} {self.source_id}: {self.outcome}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit entries are append-only.")
