"""What the overview writes: the snapshot of the review queue's figures its requests read.

Counting the queue's figures reads a few hundred thousand index entries at a million items
(bench/queue_list.py: about 140 ms on PostgreSQL, more on a busy machine), too much for the
console's home page on every request. So they are counted at most about once a minute per time
zone and kept in one row (OverviewSnapshot) that every request of every web process reads; a
request that finds them older than that is still answered from them while a job counts them
again, and the page says when they were counted.
"""

import logging
import re
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from integration_console.sync.dispatch import JobNotQueued, enqueue_job

from .models import OverviewSnapshot
from .selectors import QueueFigures, overview_snapshot, queue_figures

logger = logging.getLogger(__name__)

JOB = "integration_console.ops.jobs.recount_overview"
# Figures this old are shown as they are.
FRESH_FOR = timedelta(minutes=1)
# Older ones are still shown, while their recount runs in the background; older than this (or
# counted on another day, whose window of days has moved on) the request counts them itself.
SHOWN_FOR = timedelta(minutes=5)
# A recount asked for that long ago that never came (a lost job) is asked for again.
RECOUNT_LOST_AFTER = timedelta(minutes=2)


def overview_figures(*, now: datetime | None = None) -> QueueFigures:
    """The queue's figures for the overview in the current time zone: the snapshot when it is
    at most FRESH_FOR old; a snapshot up to SHOWN_FOR old while its recount is queued (once,
    whoever asks: a compare-and-set on the row); otherwise counted here, and kept.

    Never fails for the job queue: a recount it refuses is asked for again by a later request,
    and past SHOWN_FOR the request counts."""
    now = now or timezone.now()
    time_zone = timezone.get_current_timezone_name()
    snapshot = overview_snapshot(time_zone=time_zone)
    if snapshot is not None and _still_shown(snapshot, now):
        try:
            figures = QueueFigures.from_json(snapshot.figures, counted_at=snapshot.counted_at)
        except (KeyError, TypeError, ValueError):
            logger.warning("The overview's snapshot is of another format; counting again.")
        else:
            if now - snapshot.counted_at > FRESH_FOR:
                _ask_for_recount(snapshot, now=now)
            return figures
    return overview_recount(now=now)


def overview_recount(*, now: datetime | None = None) -> QueueFigures:
    """Count the queue's figures now and keep them as the current time zone's snapshot.
    Idempotent; of two recounts that end together, the later count stays."""
    now = now or timezone.now()
    figures = queue_figures(now=now)
    time_zone = timezone.get_current_timezone_name()
    kept = OverviewSnapshot.objects.filter(time_zone=time_zone, counted_at__lt=now).update(
        counted_at=now, figures=figures.to_json(), recount_asked_at=None
    )
    if not kept and not OverviewSnapshot.objects.filter(time_zone=time_zone).exists():
        try:
            with transaction.atomic():
                OverviewSnapshot.objects.create(
                    time_zone=time_zone, counted_at=now, figures=figures.to_json()
                )
        except IntegrityError:
            pass  # another request's count, of the same moment or later, was kept first
    return figures


def _still_shown(snapshot: OverviewSnapshot, now: datetime) -> bool:
    age = now - snapshot.counted_at
    same_day = timezone.localdate(snapshot.counted_at) == timezone.localdate(now)
    return timedelta(0) <= age <= SHOWN_FOR and same_day


def _ask_for_recount(snapshot: OverviewSnapshot, *, now: datetime) -> None:
    asked = (
        OverviewSnapshot.objects.filter(pk=snapshot.pk, counted_at=snapshot.counted_at)
        .filter(Q(recount_asked_at__isnull=True) | Q(recount_asked_at__lt=now - RECOUNT_LOST_AFTER))
        .update(recount_asked_at=now)
    )
    if not asked:
        return  # another request asked, or the recount is done
    # RQ job ids are letters, digits, dashes and underscores.
    job_id = "ops-overview-recount-" + re.sub(r"[^A-Za-z0-9_-]", "_", snapshot.time_zone)
    try:
        enqueue_job(JOB, snapshot.time_zone, job_id=job_id)
    except JobNotQueued:
        logger.warning("The overview's recount was not queued; a later request asks again.")
