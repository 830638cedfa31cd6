"""CSV exports of what the queue's filters select: the request records a QueueExport row and
queues its job; the job walks the selection by keyset, a batch at a time, and writes it to a
file under settings.EXPORTS_DIR, so that a million rows never sit in memory (nor in a request).

The file is written under a temporary name and renamed when complete: a download never gets
half a file. Files are kept a day (queue_exports_prune, run by every export's job).
"""

import csv
import logging
import secrets
from datetime import date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Max, QuerySet
from django.utils import timezone

from integration_console.sync.dispatch import JobNotQueued, enqueue_job

from .bulk import bulk_selection_filter
from .filters import ReviewItemFilter
from .models import QueueExport, ReviewItem

logger = logging.getLogger(__name__)

JOB = "review_queue.jobs.export_queue"
VIEW_PERMISSION = "review_queue.view_reviewitem"
BATCH_SIZE = 5000  # rows a query reads, and between two progress writes
KEEP_FOR = timedelta(days=1)
FILE_PREFIX = "review-items-"

# (header, column): what a person needs of an item; never the payload-sized JSON columns.
COLUMNS = (
    ("id", "id"),
    ("flow", "flow__name"),
    ("kind", "kind"),
    ("status", "status"),
    ("source_id", "source_id"),
    ("target_id", "target_id"),
    ("reason", "reason"),
    ("cause", "cause"),
    ("assignee", "assignee__username"),
    ("occurrences", "occurrences"),
    ("first_seen", "first_seen"),
    ("last_seen", "last_seen"),
    ("closed_at", "closed_at"),
)
# A cell a spreadsheet would take for a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportFiltersInvalid(Exception):
    """The filters cannot be applied; nothing was recorded."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


class ExportNotQueued(Exception):
    """The job queue refused the export's job; its row (``export_id``) says "failed"."""

    def __init__(self, message: str, *, export_id: int) -> None:
        super().__init__(message)
        self.export_id = export_id


def queue_export_start(*, user: AbstractBaseUser, filter_query: str) -> QueueExport:
    """Record an export of the items the list's filters in ``filter_query`` select and queue
    its job. Answers at once: nothing is read of the items here.

    Raises ExportFiltersInvalid (recording nothing) for filters the list could not apply, and
    ExportNotQueued, with the row failed, when the job queue refuses the job, so that nobody
    is told "queued" when it is not."""
    problems = _filter_problems(bulk_selection_filter(filter_query, user))
    if problems:
        raise ExportFiltersInvalid(problems)
    export = QueueExport.objects.create(requested_by=user, filter_query=filter_query)

    def not_queued(exc: Exception) -> None:
        QueueExport.objects.filter(pk=export.pk, status=QueueExport.Status.QUEUED).update(
            status=QueueExport.Status.FAILED,
            finished_at=timezone.now(),
            error=f"Not queued: the job queue did not take it ({exc}). No file was written.",
        )

    try:
        enqueue_job(
            JOB, export.pk, job_id=f"review-queue-export-{export.pk}", on_failure=not_queued
        )
    except JobNotQueued as exc:
        raise ExportNotQueued(str(exc), export_id=export.pk) from exc
    return export


def queue_exports_visible_to(user: AbstractBaseUser) -> QuerySet[QueueExport]:
    """The exports ``user`` may see and download: their own; staff see everyone's."""
    rows = QueueExport.objects.select_related("requested_by")
    return rows if user.is_staff else rows.filter(requested_by=user)


def queue_export_file(export: QueueExport) -> Path | None:
    """The finished export's file, or None when there is none (any more)."""
    if export.status != QueueExport.Status.SUCCEEDED or not export.file_name:
        return None
    path = Path(settings.EXPORTS_DIR) / export.file_name
    return path if path.is_file() else None


def queue_export_execute(*, export_id: int) -> QueueExport:
    """Write the export's file. Claims the row first (queued -> running, a compare-and-set), so
    a job delivered twice writes it once. Deletes exports older than a day on the way in.
    Never raises for the export: a failure is recorded on its row, and its partial file
    removed."""
    queue_exports_prune()
    now = timezone.now()
    rows = QueueExport.objects.filter(pk=export_id)
    if not rows.filter(status=QueueExport.Status.QUEUED).update(
        status=QueueExport.Status.RUNNING, started_at=now, heartbeat_at=now
    ):
        return QueueExport.objects.get(pk=export_id)
    export = QueueExport.objects.select_related("requested_by").get(pk=export_id)
    directory = Path(settings.EXPORTS_DIR)
    name = f"{FILE_PREFIX}{export.pk}-{secrets.token_hex(8)}.csv"
    partial = directory / f"{name}.part"
    try:
        error = _refusal(export)
        if error:
            _finish(export, QueueExport.Status.FAILED, error=error)
            return QueueExport.objects.get(pk=export_id)
        directory.mkdir(parents=True, exist_ok=True)
        written = _write(export, partial)
        partial.rename(directory / name)
        _finish(export, QueueExport.Status.SUCCEEDED, file_name=name, total=written)
    except Exception as exc:
        logger.exception("Export %s failed", export.pk)
        partial.unlink(missing_ok=True)
        _finish(export, QueueExport.Status.FAILED, error=f"The export stopped: {exc}")
    return QueueExport.objects.get(pk=export_id)


def queue_exports_prune(*, now: datetime | None = None) -> int:
    """Delete the export files older than KEEP_FOR (and any partial file a lost job left);
    their rows stay, without a file. A running export whose job went quiet is marked failed.
    Returns how many files were deleted. Idempotent."""
    now = now or timezone.now()
    cutoff = now - KEEP_FOR
    lost = QueueExport.objects.filter(
        status=QueueExport.Status.RUNNING, heartbeat_at__lt=now - QueueExport.STALE_AFTER
    )
    lost.update(
        status=QueueExport.Status.FAILED,
        finished_at=now,
        error="Its job was lost (no sign of it for minutes): export again.",
    )
    QueueExport.objects.filter(finished_at__lt=cutoff).exclude(file_name="").update(file_name="")
    directory = Path(settings.EXPORTS_DIR)
    if not directory.is_dir():
        return 0
    deleted = 0
    for path in directory.glob(f"{FILE_PREFIX}*.csv*"):
        try:
            if datetime.fromtimestamp(path.stat().st_mtime, tz=now.tzinfo) < cutoff:
                path.unlink()
                deleted += 1
        except FileNotFoundError:
            pass  # deleted by another job's prune meanwhile
    return deleted


def csv_cell(value: object) -> object:
    """``value`` as a CSV cell that no spreadsheet runs as a formula: text starting with =, +,
    -, @, a tab or a carriage return gets a leading single quote (OWASP's advice)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


# --- the job ---------------------------------------------------------------------------------


def _filter_problems(filterset: ReviewItemFilter) -> list[str]:
    return [
        f"the filter {name!r}: {error}"
        for name, errors in filterset.errors.items()
        for error in errors
    ]


def _refusal(export: QueueExport) -> str:
    """Why the export cannot be written now, or ""."""
    user = export.requested_by
    # Checked again by the job: someone who lost the right to see the queue since asking does
    # not read it through a job.
    if user is None or not user.is_active or not user.has_perm(VIEW_PERMISSION):
        return "The person who asked may no longer see the review queue: no file was written."
    problems = _filter_problems(bulk_selection_filter(export.filter_query, user))
    if problems:
        return f"No file written: the filters cannot be applied ({'; '.join(problems)})."
    return ""


def _write(export: QueueExport, path: Path) -> int:
    """Write the selection to ``path`` batch by batch, in id order, recording the rows written
    after each batch. Items created after the job started (ids above the bound) are left out,
    so the walk ends however fast items arrive; each item that matches is written once."""
    selection = bulk_selection_filter(export.filter_query, export.requested_by).qs
    # The table's largest id (one look at the primary key's index), not the selection's.
    bound = ReviewItem.objects.aggregate(top=Max("id"))["top"]
    rows = QueueExport.objects.filter(pk=export.pk, status=QueueExport.Status.RUNNING)
    written = 0
    # utf-8-sig: the byte-order mark makes spreadsheets read the file as UTF-8.
    with path.open("w", newline="", encoding="utf-8-sig") as file:
        writer = csv.writer(file)
        writer.writerow([header for header, _ in COLUMNS])
        if bound is None:
            return 0
        last_id = 0
        columns = [column for _, column in COLUMNS]
        while True:
            batch = list(
                selection.filter(id__gt=last_id, id__lte=bound)
                .order_by("id")
                .values_list(*columns)[:BATCH_SIZE]
            )
            writer.writerows([csv_cell(value) for value in row] for row in batch)
            written += len(batch)
            rows.update(rows_written=written, heartbeat_at=timezone.now())
            if len(batch) < BATCH_SIZE:
                return written
            last_id = batch[-1][0]


def _finish(export: QueueExport, status: str, **fields) -> None:
    now = timezone.now()
    QueueExport.objects.filter(pk=export.pk, status=QueueExport.Status.RUNNING).update(
        status=status, finished_at=now, heartbeat_at=now, **fields
    )
