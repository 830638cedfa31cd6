from django.db.models import Count, Q, QuerySet

from .failures import NEEDS_ATTENTION
from .models import Flow, SyncRun


def flow_overview() -> QuerySet[Flow]:
    return Flow.objects.select_related(
        "source_system", "target_system", "data_class", "field_map"
    ).annotate(
        open_items=Count(
            "review_items",
            filter=Q(review_items__status__in=NEEDS_ATTENTION),
        )
    )


def failures_needing_attention() -> list[dict]:
    """Active review items per failure kind, most first: what the queue holds, at a glance.
    Read through the flow's reverse relation, so sync does not import the queue."""
    from .failures import FailureKind

    counts = (
        Flow.objects.filter(review_items__status__in=NEEDS_ATTENTION)
        .values("review_items__kind")
        .annotate(count=Count("review_items"))
        .order_by("-count", "review_items__kind")
    )
    labels = dict(FailureKind.choices)
    return [
        {
            "kind": row["review_items__kind"],
            "label": labels.get(row["review_items__kind"]),
            "count": row["count"],
        }
        for row in counts
    ]


def recent_runs(limit: int = 20) -> QuerySet[SyncRun]:
    return SyncRun.objects.select_related("flow", "field_map_version")[:limit]
