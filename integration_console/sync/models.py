"""Flows, their runs, the identity map and the audit trail."""

import hashlib

from croniter import croniter
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from integration_console.catalog.models import DataClass, FieldMap, FieldMapVersion, System
from integration_console.catalog.services import field_map_fit_errors


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
    # The incremental cursor is a keyset position in the (updated_at, id) order every connector
    # reads in: just after the last record a writing run processed. Two columns, not one
    # string, so it is compared as a moment and an id, never as text.
    cursor_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    cursor_source_id = models.CharField(max_length=200, blank=True, editable=False)
    schedule = models.CharField(
        max_length=100,
        blank=True,
        help_text="Cron expression in UTC, e.g. '*/15 * * * *'. Empty: the flow runs only when "
        "someone starts it. Schedules need the cron process (manage.py rqcron "
        "integration_console.cron).",
    )
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    page_size = models.PositiveIntegerField(default=50)
    max_attempts = models.PositiveIntegerField(
        default=3, help_text="Attempts per record on transient errors before it is dead-lettered."
    )
    write_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Stage 'Limited': at most this many records are written (created, updated or "
        "linked) per run; the rest wait for the next run.",
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Audit entries and closed review items older than this many days are pruned "
        "nightly, except what an open item still needs. Empty: keep everything.",
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
        if self.stage == self.Stage.LIMITED and not self.write_limit:
            raise ValidationError({"write_limit": "A limited flow needs a write limit."})
        if self.field_map_id:
            misfit = field_map_fit_errors(
                field_map=self.field_map,
                data_class=self.data_class if self.data_class_id else None,
                source_system=self.source_system if self.source_system_id else None,
                target_system=self.target_system if self.target_system_id else None,
            )
            if misfit:
                raise ValidationError({"field_map": misfit})

    @property
    def writes_to_target(self) -> bool:
        """Whether this flow's stage lets anything be written to the target: the one stage
        check that runs, retries, links and every later action go through."""
        return self.stage in (self.Stage.LIMITED, self.Stage.LIVE)


class SyncRun(models.Model):
    """One execution of a flow. The UI reads this row whether RQ or the web process runs it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        SUCCEEDED_WITH_FAILURES = "succeeded_with_failures", "Succeeded with failures"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=30, choices=Status, default=Status.QUEUED)
    stage = models.CharField(max_length=20, choices=Flow.Stage)
    field_map_version = models.ForeignKey(
        FieldMapVersion, null=True, on_delete=models.PROTECT, related_name="+"
    )
    triggered_by = models.CharField(max_length=150)
    executed_by = models.CharField(
        max_length=200, blank=True, help_text="Worker process that executed the run."
    )
    # Where every record before it has been processed, in the source's (updated_at, id) order:
    # the end of the last of the run's chunks that are done without a gap before them. An
    # incremental flow's cursor moves with it.
    position_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    position_source_id = models.CharField(max_length=200, blank=True, editable=False)
    chunks_done = models.PositiveIntegerField(default=0)
    recoveries = models.PositiveIntegerField(
        default=0,
        help_text="Times one of its chunks was resumed after its worker died or its job was lost.",
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
    skipped_count = models.PositiveIntegerField(
        default=0, help_text="Unchanged since they were last written: nothing sent."
    )
    dry_run_count = models.PositiveIntegerField(
        default=0, help_text="Dry run: went the whole path, nothing written."
    )
    failed_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    note = models.TextField(blank=True, help_text="How the run ended, when it is worth saying.")

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

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class SyncChunkQuerySet(models.QuerySet):
    def stop(self) -> int:
        """Mark these chunks stopped (their run ended before them), and when."""
        return self.update(status=SyncChunk.Status.STOPPED, finished_at=timezone.now())


class SyncChunk(models.Model):
    """A stretch of a run's source records, executed by whichever worker takes its job.

    A chunk reads its stretch first and at once queues the next chunk to start after it, then
    processes its records: so a run keeps as many workers busy as there are, each on its own
    stretch, and reads the source once. Whoever holds a chunk's claim token owns it: every
    save is a compare-and-set on the token, so a chunk taken over from a dead worker is never
    written by the old owner again."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        STOPPED = "stopped", "Stopped (the run ended before it)"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status, default=Status.QUEUED)
    # The stretch: strictly after ``after`` (none: the source's start) up to and including
    # ``until``, which the chunk sets once it has read its records.
    after_updated_at = models.DateTimeField(null=True, blank=True)
    after_source_id = models.CharField(max_length=200, blank=True)
    until_updated_at = models.DateTimeField(null=True, blank=True)
    until_source_id = models.CharField(max_length=200, blank=True)
    last = models.BooleanField(default=False, help_text="The source ended in this chunk.")
    # How far the chunk has processed its stretch: where a new owner resumes.
    position_updated_at = models.DateTimeField(null=True, blank=True)
    position_source_id = models.CharField(max_length=200, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    # The RQ job last queued for it, for the recovery to ask RQ about.
    job_id = models.CharField(max_length=100, blank=True, editable=False)
    executed_by = models.CharField(max_length=200, blank=True)
    recoveries = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    read_count = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    dry_run_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    objects = SyncChunkQuerySet.as_manager()

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="one_chunk_per_run_number"),
        ]
        # The recovery sweep looks for active chunks gone quiet.
        indexes = [
            models.Index(
                fields=["status", "heartbeat_at"],
                condition=models.Q(status__in=["queued", "running"]),
                name="sync_chunk_active",
            )
        ]

    def __str__(self) -> str:
        return f"{self.run} chunk {self.number}"


class RecordLinkQuerySet(models.QuerySet):
    def for_record(self, flow: Flow, source_id: str) -> "RecordLinkQuerySet":
        """The link of one of ``flow``'s source records: its natural key, said once."""
        return self.filter(**RecordLink.natural_key_of(flow, source_id))

    def for_records(self, flow: Flow, source_ids: list[str]) -> "RecordLinkQuerySet":
        """The links of many of ``flow``'s source records, in one query."""
        key = RecordLink.natural_key_of(flow, "")
        del key["source_id"]
        return self.filter(**key, source_id__in=source_ids).order_by()


class RecordLink(models.Model):
    """The identity map: a source record and the target record it was written to."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="links")
    # No index of their own on the natural key's columns (a handful of values each, millions of
    # rows): the key's unique index, led by the source id, is the way in.
    data_class = models.ForeignKey(
        DataClass, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    source_system = models.ForeignKey(
        System, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    source_id = models.CharField(max_length=200)
    target_system = models.ForeignKey(
        System, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    target_id = models.CharField(max_length=200)
    payload_hash = models.CharField(max_length=64, help_text="Hash of what was last written.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    objects = RecordLinkQuerySet.as_manager()

    class Meta:
        # The source id leads the key, and is the only way in: a page's links are looked up by
        # a list of ids, which a planner whose statistics lag behind a table that a first sync
        # is filling would otherwise read as "every link of the flow, then filter" (5-17 ms a
        # page at 30,000 links, growing with the table).
        constraints = [
            models.UniqueConstraint(
                fields=["source_id", "data_class", "source_system", "target_system"],
                name="one_link_per_source_record_and_target",
            ),
        ]
        indexes = [
            # Which source record a target record is linked from: matching asks it of a
            # record's candidates, and a merge re-points the links of the merged-away record.
            models.Index(fields=["target_system", "target_id"], name="link_by_target"),
        ]
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.source_system}:{self.source_id} → {self.target_system}:{self.target_id}"

    @staticmethod
    def natural_key_of(flow: Flow, source_id: str) -> dict:
        return {
            "data_class_id": flow.data_class_id,
            "source_system_id": flow.source_system_id,
            "source_id": source_id,
            "target_system_id": flow.target_system_id,
        }


class TargetRecord(models.Model):
    """What the console knows of one record of a target system's resource, for matching: its
    values as last written by the console or read from the target. Kept up to date from the
    console's own writes and from reading the target (``refresh_match_index``)."""

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="+")
    resource = models.CharField(max_length=100)
    target_id = models.CharField(max_length=200)
    values = models.JSONField(default=dict)
    # The values normalised for the data class's match spec (``scoring.Prepared.stored``), made
    # when the record is stored: a candidate then costs no normalising when it is scored.
    forms = models.JSONField(default=dict)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["system", "resource", "target_id"], name="one_target_record_per_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system}:{self.resource}/{self.target_id}"


class TargetRecordKey(models.Model):
    """One blocking key of a target record: where matching looks for candidates. A look-up is
    one index probe per key, whatever the number of records the target holds.

    The key is kept as a 64-bit hash of itself with its system and resource (``hash_of``),
    beside the record's row id: matching only ever asks "which records have this key", and two
    integers make an index entry a third the size of the text it replaces. At a million
    records with a dozen keys each that is the difference between an index that stays in
    memory and one read from disk on every look-up. Two keys that collide offer one record
    too many, which scoring then judges like any other candidate."""

    pk = models.CompositePrimaryKey("key_hash", "record")
    key_hash = models.BigIntegerField()
    # Indexed: a record's keys are replaced whenever it is written again.
    record = models.ForeignKey(TargetRecord, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"#{self.key_hash:x} → {self.record_id}"

    @staticmethod
    def hash_of(system_id: int, resource: str, key: str) -> int:
        """The key's hash within its system and resource. Migration sync 0009 holds a copy:
        changing either means reading every index again."""
        text = f"{system_id}|{resource}|{key}".encode("utf-8", "replace")
        return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big", signed=True)


class DistinctPair(models.Model):
    """A person said this source record is not that target record ("create anyway"): matching
    never offers the pair again."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="distinct_pairs")
    source_id = models.CharField(max_length=200)
    target_id = models.CharField(max_length=200)
    reason = models.TextField()
    decided_by = models.CharField(max_length=150)
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "source_id", "target_id"], name="one_distinct_pair"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} is not {self.target_id}"


class Merge(models.Model):
    """A person's merge of a source record with its duplicates in the target: the surviving
    target record takes the chosen value of each field, the others are archived (or deleted,
    where the target cannot archive), and the links point at the survivor. Applied step by
    step, each step idempotent and recorded in ``steps``, so that a merge stopped half-way is
    resumed, or rolled back by its undo, which walks the same steps back."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Stopped half-way"
        UNDOING = "undoing", "Undoing"
        UNDONE = "undone", "Undone"

    ACTIVE_STATUSES = (
        Status.QUEUED,
        Status.APPLYING,
        Status.APPLIED,
        Status.FAILED,
        Status.UNDOING,
    )

    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, related_name="merges")
    source_id = models.CharField(max_length=200)
    survivor_id = models.CharField(max_length=200)
    merged_ids = models.JSONField(default=list, help_text="Target records merged away.")
    # field -> where its value comes from: "source" (the source record) or a target id
    choices = models.JSONField(default=dict)
    values = models.JSONField(default=dict, help_text="What the survivor was sent.")
    survivor_before = models.JSONField(null=True, blank=True)
    merged_before = models.JSONField(default=dict, blank=True)
    removal = models.CharField(max_length=10, blank=True, help_text="archive, delete or none")
    # Other source records' links that pointed at a merged-away record: [{"source_id", "from"}]
    repointed = models.JSONField(default=list, blank=True)
    link_before = models.JSONField(null=True, blank=True)
    # The hash of the source record's payload when merged: its link carries it, so that the
    # next run leaves the merged values alone until the source record changes.
    source_digest = models.CharField(max_length=64, blank=True)
    steps = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=Status, default=Status.QUEUED)
    error = models.TextField(blank=True)
    requested_by = models.CharField(max_length=150)
    requested_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)
    undo_reason = models.TextField(blank=True)
    undone_by = models.CharField(max_length=150, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    # Moves with every step: a merge under way that has not moved for a while lost its job.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # However many people press "merge" at once, a record has one merge in force.
            models.UniqueConstraint(
                fields=["flow", "source_id"],
                condition=~models.Q(status="undone"),
                name="one_merge_in_force_per_record",
            ),
        ]
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"Merge of {self.source_id} into {self.survivor_id}"

    @property
    def is_working(self) -> bool:
        """Its job is applying or undoing it, or about to: a page showing it refreshes."""
        working = (self.Status.QUEUED, self.Status.APPLYING, self.Status.UNDOING)
        return self.status in working and not self.error

    @property
    def can_be_undone(self) -> bool:
        return self.status in (self.Status.APPLIED, self.Status.FAILED)


class AuditEntry(models.Model):
    """Append-only: one row per attempted action on one record."""

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        SKIP = "skip", "Skip"
        LINK = "link", "Link"
        MERGE = "merge", "Merge"
        UNMERGE = "unmerge", "Undo a merge"
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
    payload = models.JSONField(
        default=dict, help_text="What was sent (or would have been), sensitive fields masked."
    )
    withheld = models.JSONField(
        default=dict, blank=True, help_text="Fields left out of what was sent, and why."
    )
    corrected = models.JSONField(
        default=dict, blank=True, help_text="Fields an operator's kept correction replaced."
    )
    idempotency_key = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome)
    failure_kind = models.CharField(max_length=40, blank=True)
    failure_reason = models.TextField(blank=True)
    field_errors = models.JSONField(default=dict, blank=True)
    # Why a link was made by matching: the candidate's score, field by field.
    match = models.JSONField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    actor = models.CharField(max_length=150)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["flow", "source_id"]),
            # Creates whose answer never came back (pipeline.uncertain_creates): every page of
            # a first sync asks for its records' among them, and there are next to none.
            models.Index(
                fields=["flow", "source_id"],
                condition=models.Q(
                    action="create",
                    outcome="failed",
                    failure_kind__in=["transient", "retries_exhausted"],
                )
                & ~models.Q(idempotency_key=""),
                name="audit_uncertain_creates",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.source_id}: {self.outcome}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit entries are append-only.")


class Correction(models.Model):
    """An operator's fix of one field of one source record, kept because it could not be
    written back to the system that owns the field. The pipeline applies it after the
    transform for as long as the source still holds the value it had when it was fixed."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="corrections")
    source_id = models.CharField(max_length=200)
    target_field = models.CharField(max_length=200)
    source_path = models.CharField(max_length=200, blank=True)
    # The raw source value at the rule's source path when the fix was made: while the source
    # still sends it, the correction holds; once it changes, the source's new value wins.
    source_value = models.JSONField(null=True, blank=True)
    value = models.JSONField(null=True, blank=True)
    made_by = models.CharField(max_length=150)
    made_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["flow", "source_id", "target_field"]
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "source_id", "target_field"],
                condition=models.Q(retired_at__isnull=True),
                name="one_live_correction_per_field",
            ),
        ]
        indexes = [models.Index(fields=["flow", "source_id"])]

    def __str__(self) -> str:
        return f"{self.source_id}.{self.target_field} = {self.value!r}"
