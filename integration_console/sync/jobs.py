"""RQ entry points. Thin: load ids, call the service a view would call."""

from typing import Any

from .models import Flow
from .services import flows_start_due, record_retry, sync_run_execute


def execute_sync_run(run_id: int) -> None:
    sync_run_execute(run_id=run_id)


def retry_record(flow_id: int, source_id: str, actor: str, payload: dict[str, Any] | None) -> None:
    record_retry(
        flow=Flow.objects.get(pk=flow_id), source_id=source_id, actor=actor, payload=payload
    )


def start_due_flows() -> None:
    flows_start_due()
