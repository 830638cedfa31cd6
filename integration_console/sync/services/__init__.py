"""The sync app's services: runs (runs.py) and work on single records (records.py)."""

from .chunks import sync_chunk_execute
from .records import (
    LinkRefused,
    corrections_keep,
    record_corrections,
    record_distinct_from,
    record_link_lost_create,
    record_link_to_target,
    record_retry,
    stage_refusal,
)
from .runs import (
    RunNotQueued,
    counter_for,
    flow_context,
    flows_start_due,
    sync_run_cancel,
    sync_run_start,
    sync_run_wait,
    sync_runs_recover,
)

__all__ = [
    "LinkRefused",
    "RunNotQueued",
    "corrections_keep",
    "counter_for",
    "flow_context",
    "flows_start_due",
    "record_corrections",
    "record_distinct_from",
    "record_link_lost_create",
    "record_link_to_target",
    "record_retry",
    "stage_refusal",
    "sync_chunk_execute",
    "sync_run_cancel",
    "sync_run_start",
    "sync_run_wait",
    "sync_runs_recover",
]
