"""Deciding what a record is: new, a duplicate to link automatically, or one for a person.

- ``auto_link``: exactly one candidate at or above ``auto_link`` and no other at or above
  ``review``.
- ``review``: any other case with a candidate at or above ``review`` (one in the grey zone, or
  several good ones: a person picks).
- ``new``: no candidate at or above ``review``.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .keys import BlockingIndex
from .scoring import MatchScore, Prepared, score_at_least
from .spec import MatchSpec

NEW = "new"
AUTO_LINK = "auto_link"
REVIEW = "review"
VERDICTS = (NEW, AUTO_LINK, REVIEW)
MAX_CANDIDATES = 5


@dataclass(frozen=True)
class Candidate:
    """A target record scored against the record being identified."""

    target_id: str
    values: Mapping[str, Any]
    score: MatchScore


@dataclass(frozen=True)
class Decision:
    """The verdict, and the candidates at or above ``review``, best first (at most five)."""

    verdict: str
    candidates: tuple[Candidate, ...]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


def decide(
    record: Mapping[str, Any],
    candidates: Iterable[tuple[str, Mapping[str, Any]]],
    spec: MatchSpec,
) -> Decision:
    """Score ``record`` against each candidate (target id, values) and decide. A target id
    offered twice is scored once. Ties are broken by target id, so a decision does not depend on
    the order candidates come in. A candidate's values may also be given as a
    ``scoring.Prepared`` made for the same spec (a caller that keeps target records in memory
    saves normalising them again)."""
    prepared = Prepared(record, spec)
    seen: set[str] = set()
    good: list[Candidate] = []
    for target_id, values in candidates:
        if target_id in seen:
            continue
        seen.add(target_id)
        other = values if isinstance(values, Prepared) else Prepared(values, spec)
        match = score_at_least(prepared, other, spec, spec.review)
        if match is not None:
            good.append(Candidate(target_id, other.record, match))
    good.sort(key=lambda c: (-c.score.total, str(c.target_id)))
    if not good:
        return Decision(NEW, ())
    if len(good) == 1 and good[0].score.total >= spec.auto_link:
        return Decision(AUTO_LINK, (good[0],))
    return Decision(REVIEW, tuple(good[:MAX_CANDIDATES]))


def batch_duplicates(
    records: Sequence[tuple[str, Mapping[str, Any]]], spec: MatchSpec
) -> dict[str, tuple[str, MatchScore]]:
    """Duplicates within one page of source records (source id, payload): for each record that
    matches an earlier one at or above ``review``, its source id -> (the source id of the
    earlier record it matches best, the score). Chains are left as found (c -> b, b -> a):
    follow them to reach the first. Only records that share a blocking key are compared."""
    index = BlockingIndex(spec)
    prepared: dict[str, Prepared] = {}
    duplicates: dict[str, tuple[str, MatchScore]] = {}
    for source_id, payload in records:
        this = Prepared(payload, spec)
        best: tuple[str, MatchScore] | None = None
        for earlier_id in index.candidates(payload):
            if earlier_id == source_id:
                continue
            match = score_at_least(this, prepared[earlier_id], spec, spec.review)
            if match is not None and (best is None or match.total > best[1].total):
                best = (earlier_id, match)
        if best is not None:
            duplicates[source_id] = best
        if source_id not in prepared:
            prepared[source_id] = this
            index.add(source_id, payload)
    return duplicates
