"""RQ entry points of the review queue. Thin: call the service a person or a view would."""

from .bulk import bulk_action_execute, bulk_actions_recover
from .retention import retention_prune


def prune_by_retention() -> dict[str, int]:
    """Daily, from RQ's cron (integration_console/cron.py); the counts are the job's result."""
    return retention_prune()


def execute_bulk_action(bulk_action_id: int, token: str = "") -> None:
    """One slice of a bulk action; it queues the next one itself (review_queue/bulk.py)."""
    bulk_action_execute(bulk_action_id=bulk_action_id, token=token)


def recover_bulk_actions() -> list[int]:
    """Resume the bulk actions whose job went quiet; meant for RQ's cron, every minute."""
    return bulk_actions_recover()
