"""The possible duplicates that need a person, as pairs: each record and its best candidate,
with the record a merge of the two would make, for linking or merging many high-score pairs
at once after a look at every one of them."""

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from integration_console.sync.failures import FailureKind
from integration_console.sync.redaction import sensitive_fields
from integration_console.sync.services.merges import field_owners, merged_values

from .models import ReviewItem
from .services import review_item_merge_plan

# The newest possible duplicates a preview looks at: a bounded read whatever the queue holds.
PAIRS_LOOKED_AT = 1000


@dataclass(frozen=True)
class MergedField:
    """One field of the record a bulk merge leaves in the best candidate."""

    name: str
    label: str
    value: Any  # sensitive values masked
    changes: bool  # the merge writes it: the candidate holds something else now


@dataclass(frozen=True)
class Pair:
    item: ReviewItem
    target_id: str
    score: float
    linked_from: str  # another source record already linked to the candidate, or ""
    others: int  # candidates besides the best
    merged: tuple[MergedField, ...] = ()  # by the rule asked for; none when linked_from


def possible_duplicates(flow_id: int | None = None) -> QuerySet[ReviewItem]:
    items = ReviewItem.objects.filter(
        kind=FailureKind.POSSIBLE_DUPLICATE, status__in=ReviewItem.ACTIVE_STATUSES
    ).select_related("flow__data_class", "flow__source_system", "flow__target_system")
    if flow_id is not None:
        items = items.filter(flow_id=flow_id)
    return items.order_by("-id")


def duplicate_pairs(
    *, flow_id: int | None, min_score: float, rule: str | None = None
) -> tuple[list[Pair], int]:
    """The pairs whose best candidate scores ``min_score`` or more among the newest
    PAIRS_LOOKED_AT active possible duplicates (of a flow), best first; and how many items
    were looked at. With a survivorship ``rule``, each pair that a bulk merge may take holds
    the merged record that rule makes (one query a data class, for its ownership rules)."""
    looked_at = list(possible_duplicates(flow_id)[:PAIRS_LOOKED_AT])
    owners_of: dict[int, dict[str, int]] = {}  # data class -> its fields' owners, read once
    pairs = []
    for item in looked_at:
        candidates = [c for c in item.candidates if isinstance(c, dict)]
        if not candidates:
            continue
        best = candidates[0]
        score = float((best.get("score") or {}).get("total") or 0)
        if score < min_score:
            continue
        target_id, linked_from = str(best.get("target_id")), str(best.get("linked_from") or "")
        merged = ()
        if rule is not None and not linked_from:
            data_class = item.flow.data_class_id
            if data_class not in owners_of:
                owners_of[data_class] = field_owners(item.flow)
            merged = merged_record(
                item, survivor=target_id, rule=rule, owners=owners_of[data_class]
            )
        pairs.append(Pair(item, target_id, score, linked_from, len(candidates) - 1, merged))
    pairs.sort(key=lambda pair: (-pair.score, -pair.item.pk))
    return pairs, len(looked_at)


def merged_record(
    item: ReviewItem, *, survivor: str, rule: str, owners: dict[str, int] | None = None
) -> tuple[MergedField, ...]:
    """The record a merge of the item into ``survivor`` by ``rule`` leaves there, field by
    field, as review_item_merge_best would ask for it (the same plan), sensitive values
    masked."""
    sides, choices = review_item_merge_plan(item, survivor=survivor, rule=rule, owners=owners)
    values = merged_values(choices, sides)
    now = next(side.values for side in sides if side.key == survivor)
    hidden = sensitive_fields(item.flow.data_class.fields)
    labels = item.flow.data_class.field_labels
    return tuple(
        MergedField(
            name,
            labels.get(name, name),
            values.get(name),
            # A masked value taken from the record cannot be compared with the candidate's:
            # it is shown as a change, since the merge writes it.
            choices[name] != survivor and (name in hidden or values.get(name) != now.get(name)),
        )
        for name in choices
    )
