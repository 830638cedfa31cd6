"""Where background jobs go: RQ when REDIS_URL is set, otherwise this process, in a thread.

Either way a job starts only after the current transaction commits, and its state lives on a
database row (a SyncRun, a review item) that the UI reads; RQ only executes the work. Jobs are
named by dotted path, so modules that enqueue them need not import the jobs module (which
imports them).
"""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

_local = threading.local()
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


class JobNotQueued(Exception):
    """The job queue refused the job (Redis down, say); the message is for people."""


def jobs_run_in_process() -> bool:
    return not settings.REDIS_URL


def enqueue_job(
    path: str,
    *args: Any,
    job_id: str | None = None,
    on_failure: Callable[[Exception], None] | None = None,
) -> None:
    """Run the job at ``path`` after the current transaction commits (at once outside one).

    When the queue refuses it, ``on_failure`` records that on the job's row, then JobNotQueued
    is raised to whoever committed, so that nobody is told "queued" when it is not. A
    ``job_id`` lets job_is_pending() ask RQ about the job later."""

    def send() -> None:
        try:
            if jobs_run_in_process():
                _run_in_process(path, args, {})
            else:
                import django_rq

                django_rq.get_queue("default").enqueue(path, *args, job_id=job_id)
        except Exception as exc:
            logger.exception("Could not queue %s%r", path, args)
            if on_failure is not None:
                on_failure(exc)
            raise JobNotQueued(f"The job queue did not take the job: {exc}") from exc

    transaction.on_commit(send)


def job_is_pending(job_id: str, *, started_within: float | None = None) -> bool:
    """Whether RQ still holds the job, waiting or running. In-process jobs are never pending
    across a restart of the process, which is what asking this after a while is about.

    With ``started_within``, a job that started longer ago than that many seconds is taken
    for dead: for a job whose first act is to claim its row, a job that started but never
    claimed it died with its worker (RQ learns that only when the worker's key expires)."""
    if jobs_run_in_process():
        return False
    import django_rq
    from rq import Queue
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    connection = django_rq.get_connection("default")
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return False
    status = job.get_status()
    if status == JobStatus.QUEUED:
        # A worker takes a job off its queue before its work horse marks it started; one
        # killed in between leaves the job "queued" in a list no worker reads (RQ's
        # intermediate queue, which RQ sweeps only every few minutes). Only a job still in
        # its queue is waiting. Asking again for one a live worker is just starting at most
        # queues it twice, and jobs that claim their row do nothing the second time.
        return Queue(job.origin, connection=connection).get_job_position(job.id) is not None
    if status == JobStatus.STARTED and started_within is not None and job.started_at:
        started = job.started_at.replace(tzinfo=job.started_at.tzinfo or UTC)
        return (datetime.now(UTC) - started).total_seconds() <= started_within
    return status in (
        JobStatus.STARTED,
        JobStatus.SCHEDULED,
        JobStatus.DEFERRED,
    )


def _run_in_process(path: str, args: tuple, kwargs: dict) -> None:
    pending = getattr(_local, "pending", None)
    if pending is not None:
        # Enqueued by a job running in this thread (a run's next chunk): run it when that job
        # returns, not inside it, so a long run is a loop and not a deep recursion.
        pending.append((path, args, kwargs))
        return
    if settings.IN_PROCESS_JOBS == "inline":
        _drain([(path, args, kwargs)])
        return
    _background().submit(_drain_in_thread, [(path, args, kwargs)])


def _background() -> ThreadPoolExecutor:
    """A few threads of this process that run the jobs one after another: a bulk retry of
    thousands of items queues thousands of jobs here, not thousands of threads."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=settings.IN_PROCESS_JOB_THREADS, thread_name_prefix="job"
            )
        return _executor


def _drain_in_thread(jobs: list) -> None:
    try:
        _drain(jobs)
    finally:
        connection.close()


def _drain(jobs: list) -> None:
    _local.pending = jobs
    try:
        # Once the process is shutting down, a run's further chunks are left to the recovery
        # of stale runs rather than holding the exit for the rest of the run.
        while jobs and threading.main_thread().is_alive():
            path, args, kwargs = jobs.pop(0)
            try:
                import_string(path)(*args, **kwargs)
            except Exception:
                # A job records its own failures on its row; what escapes is a bug, logged
                # here as RQ would log it, without taking the next job down with it.
                logger.exception("Job %s%r failed", path, args)
    finally:
        _local.pending = None
