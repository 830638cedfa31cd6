"""RQ entry points of the review queue. Thin: call the service a person or a view would."""

from .bulk import bulk_action_execute, bulk_actions_recover
from .exports import queue_export_execute
from .retention import retention_prune
from .sla import review_sla_escalate


def prune_by_retention() -> dict[str, int]:
    """Daily, from RQ's cron (integration_console/cron.py); the counts are the job's result."""
    return retention_prune()


def execute_bulk_action(bulk_action_id: int, token: str = "") -> None:
    """One slice of a bulk action; it queues the next one itself (review_queue/bulk.py)."""
    bulk_action_execute(bulk_action_id=bulk_action_id, token=token)


def recover_bulk_actions() -> list[int]:
    """Resume the bulk actions whose job went quiet; meant for RQ's cron, every minute."""
    return bulk_actions_recover()


def export_queue(export_id: int) -> None:
    """Write one CSV export of the queue (review_queue/exports.py)."""
    queue_export_execute(export_id=export_id)


def escalate_past_sla() -> dict[str, int]:
    """Every five minutes, from RQ's cron: e-mail the breaches of an SLA nobody was told of."""
    done = review_sla_escalate()
    return {"mailed": len(done.mailed), "items": done.items}
