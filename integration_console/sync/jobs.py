"""RQ entry points, named by path where they are enqueued. Thin: load ids, call the service a
view would call."""

from typing import Any

from .models import Flow
from .services import flows_start_due, record_retry, sync_chunk_execute, sync_runs_recover


def execute_sync_chunk(chunk_id: int, token: str = "") -> None:
    sync_chunk_execute(chunk_id=chunk_id, token=token)


def retry_record(
    flow_id: int, source_id: str, actor: str, corrections: dict[str, Any] | None = None
) -> None:
    record_retry(
        flow=Flow.objects.get(pk=flow_id), source_id=source_id, actor=actor, corrections=corrections
    )


def start_due_flows() -> None:
    flows_start_due()


def recover_sync_runs() -> None:
    """The cron's every-minute recovery of the sync's own work: runs (their chunks) and
    merges whose job was lost."""
    from .services.merges import merges_recover

    sync_runs_recover()
    merges_recover()


def apply_merge(merge_id: int) -> None:
    from .services.merges import merge_apply

    merge_apply(merge_id=merge_id)


def undo_merge(merge_id: int) -> None:
    from .services.merges import merge_undo

    merge_undo(merge_id=merge_id)
