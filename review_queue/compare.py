"""A possible duplicate beside its candidates, field by field: what the item page shows so that
a person can see why the console thinks they are the same record, and where they differ."""

from dataclasses import dataclass
from typing import Any

from integration_console.matching.scoring import ALIKE

from .models import ReviewItem


@dataclass(frozen=True)
class CandidateCell:
    value: Any
    score: float | None  # how alike this field is to the record's, 0..1; None: not compared
    differs: bool


@dataclass(frozen=True)
class ComparisonRow:
    field: str
    label: str
    value: Any
    cells: list[CandidateCell]


@dataclass(frozen=True)
class Comparison:
    candidates: list[dict[str, Any]]
    rows: list[ComparisonRow]


def candidate_comparison(item: ReviewItem, payload: dict[str, Any] | None) -> Comparison | None:
    """The rows of the data class's fields (then any other field a side holds), the record's
    value and each candidate's, with each field's score. None when the item has no candidates.
    ``payload`` is the item's payload as shown (sensitive values masked)."""
    candidates = [c for c in item.candidates if isinstance(c, dict)]
    if not candidates:
        return None
    record = payload or {}
    labels = item.flow.data_class.field_labels
    # The data class's fields only: what the target keeps besides (its ids, its timestamps) is
    # no evidence either way.
    names = list(labels)
    rows = []
    for name in names:
        value = record.get(name)
        cells = []
        for candidate in candidates:
            theirs = (candidate.get("values") or {}).get(name)
            scores = {
                f.get("field"): f.get("score")
                for f in (candidate.get("score") or {}).get("fields", [])
                if isinstance(f, dict)
            }
            score = scores.get(name)
            # Alike by the field's own measure (a phone formatted otherwise, names swapped) is
            # not a difference to look at; without a score, the values decide.
            differs = score < ALIKE if isinstance(score, int | float) else _differs(value, theirs)
            cells.append(CandidateCell(theirs, score, differs))
        if value in (None, "") and all(cell.value in (None, "") for cell in cells):
            continue
        rows.append(ComparisonRow(name, labels.get(name, name), value, cells))
    return Comparison(candidates, rows)


def _differs(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, str) and isinstance(theirs, str):
        return ours.strip().casefold() != theirs.strip().casefold()
    return ours != theirs
