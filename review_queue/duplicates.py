"""The possible duplicates that need a person, as pairs: each record and its best candidate,
for linking many high-score pairs at once after a look at every one of them."""

from dataclasses import dataclass

from django.db.models import QuerySet

from integration_console.sync.failures import FailureKind

from .models import ReviewItem

# The newest possible duplicates a preview looks at: a bounded read whatever the queue holds.
PAIRS_LOOKED_AT = 1000


@dataclass(frozen=True)
class Pair:
    item: ReviewItem
    target_id: str
    score: float
    linked_from: str  # another source record already linked to the candidate, or ""
    others: int  # candidates besides the best


def possible_duplicates(flow_id: int | None = None) -> QuerySet[ReviewItem]:
    items = ReviewItem.objects.filter(
        kind=FailureKind.POSSIBLE_DUPLICATE, status__in=ReviewItem.ACTIVE_STATUSES
    ).select_related("flow")
    if flow_id is not None:
        items = items.filter(flow_id=flow_id)
    return items.order_by("-id")


def duplicate_pairs(*, flow_id: int | None, min_score: float) -> tuple[list[Pair], int]:
    """The pairs whose best candidate scores ``min_score`` or more among the newest
    PAIRS_LOOKED_AT active possible duplicates (of a flow), best first; and how many items
    were looked at."""
    looked_at = list(possible_duplicates(flow_id)[:PAIRS_LOOKED_AT])
    pairs = []
    for item in looked_at:
        candidates = [c for c in item.candidates if isinstance(c, dict)]
        if not candidates:
            continue
        best = candidates[0]
        score = float((best.get("score") or {}).get("total") or 0)
        if score >= min_score:
            pairs.append(
                Pair(
                    item,
                    str(best.get("target_id")),
                    score,
                    str(best.get("linked_from") or ""),
                    len(candidates) - 1,
                )
            )
    pairs.sort(key=lambda pair: (-pair.score, -pair.item.pk))
    return pairs, len(looked_at)
