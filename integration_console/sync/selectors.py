from django.db.models import Count, QuerySet

from integration_console.catalog.models import System

from .failures import NEEDS_ATTENTION
from .models import Flow, SyncChunk, SyncRun
from .redaction import sensitive_fields, sensitive_source_paths


def _review_items():
    """The queue's items, reached through the flow's reverse relation: sync does not import
    the queue, yet asks its table (through its partial indexes on the active statuses) which
    records of a page have an item that needs attention."""
    return Flow._meta.get_field("review_items").related_model._default_manager


def run_chunks(run: SyncRun, *, shown: int = 12) -> dict:
    """How a run's chunks stand: how many in each status, and the ones at work (or the last
    ones, once none is): what the run page shows of a run spread over many workers."""
    chunks = SyncChunk.objects.filter(run=run)
    by_status = dict(
        chunks.order_by()
        .values_list("status")
        .annotate(count=Count("*"))
        .values_list("status", "count")
    )
    active = list(chunks.filter(status__in=SyncChunk.ACTIVE_STATUSES).order_by("number")[:shown])
    latest = active or list(chunks.order_by("-number")[:shown])[::-1]
    workers = chunks.exclude(executed_by="").values("executed_by").distinct().count()
    return {
        "by_status": [
            (label, by_status.get(value, 0)) for value, label in SyncChunk.Status.choices
        ],
        "total": sum(by_status.values()),
        "shown": latest,
        "workers": workers,
    }


def recent_runs(limit: int = 20) -> QuerySet[SyncRun]:
    return SyncRun.objects.select_related("flow", "field_map_version")[:limit]


def resource_sensitive_paths(system: System, resource: str) -> set[str]:
    """The fields of ``system``'s ``resource`` that flows map into sensitive fields (reading
    it) or that are sensitive themselves (writing it): what to mask wherever it is shown."""
    hidden: set[str] = set()
    reading = Flow.objects.filter(source_system=system, source_resource=resource)
    for flow in reading.select_related("data_class", "field_map"):
        sensitive = sensitive_fields(flow.data_class.fields)
        version = flow.field_map.active_version
        rules = list(version.rules.all()) if version else []
        hidden |= sensitive_source_paths(rules, sensitive)
    writing = Flow.objects.filter(target_system=system, target_resource=resource)
    for flow in writing.select_related("data_class"):
        hidden |= sensitive_fields(flow.data_class.fields)
    return hidden


def source_ids_needing_attention(flow: Flow, source_ids: list[str]) -> set[str]:
    """Which of these records of ``flow`` have an active review item: one query through the
    queue's partial index, so that a page of records that have none locks no item row."""
    return set(
        _review_items()
        .filter(flow=flow, source_id__in=source_ids, status__in=NEEDS_ATTENTION)
        .values_list("source_id", flat=True)
    )
