"""RQ entry points of the review queue. Thin: call the service a person or a view would."""

from .retention import retention_prune


def prune_by_retention() -> dict[str, int]:
    """Daily, from RQ's cron (integration_console/cron.py); the counts are the job's result."""
    return retention_prune()
