from django.db.models import Count, Q, QuerySet

from .models import Flow, SyncRun


def flow_overview() -> QuerySet[Flow]:
    return Flow.objects.select_related(
        "source_system", "target_system", "data_class", "field_map"
    ).annotate(
        open_items=Count(
            "review_items",
            filter=Q(review_items__status__in=["open", "in_progress", "retrying"]),
        )
    )


def recent_runs(limit: int = 20) -> QuerySet[SyncRun]:
    return SyncRun.objects.select_related("flow", "field_map_version")[:limit]
