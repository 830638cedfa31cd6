"""Where background jobs go: RQ when REDIS_URL is set, otherwise the current process.

Either way the job starts only after the current transaction commits, and its state lives on a
database row (a SyncRun, a review item) that the UI reads; RQ only executes the work.
"""

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def jobs_run_in_process() -> bool:
    return not settings.REDIS_URL


def enqueue_job(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    if jobs_run_in_process():
        transaction.on_commit(lambda: func(*args, **kwargs))
        return

    import django_rq

    def send() -> None:
        django_rq.get_queue("default").enqueue(func, *args, **kwargs)

    transaction.on_commit(send)
