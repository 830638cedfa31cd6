"""What a flow's matching page reads and writes: the recent decisions matching made for the
flow, what two thresholds would have made of them, the index's size, and saving thresholds.

The preview reads two bounded ranges whatever the size of the history: the flow's last
PREVIEW_DECISIONS auto-links (audit entries) and its last PREVIEW_DECISIONS possible-duplicate
review items, each newest first by primary key under a LIMIT, with only the scores taken out of
their JSON by the database. Review items are reached through the flow's reverse relation: sync
does not import the queue.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max

from integration_console.catalog.models import DataClass
from integration_console.matching.scoring import CAP_GAP
from integration_console.matching.spec import (
    MatchSpec,
    MatchSpecError,
)

from .dispatch import enqueue_job
from .failures import FailureKind
from .models import AuditEntry, Flow, TargetRecord
from .services.matching import MatchingOff

# Named by path, as dispatch asks: the jobs module is not imported here.
REFRESH_MATCH_INDEX = "integration_console.sync.matching_jobs.refresh_match_index"
# How many of a flow's latest decisions the preview replays.
PREVIEW_DECISIONS = 1000
# The histogram's bands: 0.05 wide, from 0.5 (or lower, when a recorded score is) up to 1.0.
BAND_WIDTH = 0.05
LOWEST_BAND = 0.5

AUTO_LINK = "auto_link"
REVIEW = "review"
NEW = "new"
VERDICT_LABELS = {AUTO_LINK: "Auto-linked", REVIEW: "Sent to review", NEW: "Created as new"}
# The histogram's colours (Tableau 10, as the overview's charts): linked, a person, new.
VERDICT_COLOURS = {AUTO_LINK: "#59a14f", REVIEW: "#f28e2b", NEW: "#bab0ac"}
LEGEND = [(VERDICT_LABELS[v], VERDICT_COLOURS[v]) for v in (AUTO_LINK, REVIEW, NEW)]

BLOCKING_LABELS = {
    "email": "E-mail address",
    "phone": "Phone number",
    "name_postcode": "Family name and postcode",
    "surname_phonetic": (
        "Family name as it sounds, with the given name's first sounds (either way round)"
    ),
    "birth_date": "Date of birth and given name",
}
METHOD_LABELS = {
    "exact": "identical",
    "email": "e-mail (case, dots and tags aside)",
    "phone": "phone (digits, country code aside)",
    "name": "name (spelling, nicknames, initials)",
    "token_set": "words in any order",
    "date": "date (day and month swapped counts)",
}


# --- selectors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoredCandidate:
    """A recorded candidate's score: the weighted mean of its fields (``mean``), whether a
    person rule capped it below the auto-link threshold of the day (``capped``), and whether
    another source record was already linked to it."""

    mean: float
    capped: bool = False
    linked_elsewhere: bool = False

    def total(self, *, auto_link: float) -> float:
        # A person rule that capped a score caps it below any auto-link threshold: those rules
        # do not depend on the thresholds, only where the cap lands does (scoring.py).
        return min(self.mean, max(0.0, auto_link - CAP_GAP)) if self.capped else self.mean


@dataclass(frozen=True)
class RecordedDecision:
    """One decision matching made for one of the flow's records, as recorded: an auto-link (an
    audit entry with its match) or a possible duplicate (a review item with its candidates).
    ``score`` is the best candidate's score as recorded; ``candidates`` the best two, as far
    as they were recorded (those that reached the review threshold of the day)."""

    source_id: str
    at: datetime
    decided: str
    score: float
    candidates: tuple[ScoredCandidate, ...]

    def verdict(self, *, auto_link: float, review: float) -> str:
        """What matching would decide with these thresholds (matching/decide.py's rule): one
        candidate at or above ``auto_link``, no other at or above ``review``, and not linked
        from another source record, is linked; a best candidate below ``review`` is new."""
        good = sorted(
            (
                (c.total(auto_link=auto_link), c)
                for c in self.candidates
                if c.total(auto_link=auto_link) >= review
            ),
            key=lambda pair: -pair[0],
        )
        if not good:
            return NEW
        (best, candidate), *others = good
        if best >= auto_link and not others and not candidate.linked_elsewhere:
            return AUTO_LINK
        return REVIEW

    @property
    def unsure_of_person_rules(self) -> bool:
        """Sent to review with no person rule recorded on its best candidate: whether one would
        hold it back under a lower auto-link threshold is not known (a rule is recorded only
        when it lowered the score)."""
        return self.decided == REVIEW and not self.candidates[0].capped


@dataclass(frozen=True)
class Outcomes:
    auto_link: int = 0
    review: int = 0
    new: int = 0

    @property
    def total(self) -> int:
        return self.auto_link + self.review + self.new

    def get(self, verdict: str) -> int:
        return getattr(self, verdict)


@dataclass(frozen=True)
class ScoreBand:
    """The recorded decisions whose best score is in [low, high) (the last band holds 1.0),
    and what each would become under the thresholds tried."""

    low: float
    high: float
    outcomes: Outcomes

    @property
    def count(self) -> int:
        return self.outcomes.total


@dataclass(frozen=True)
class MatchingPreview:
    """The flow's recent decisions (``decisions`` of them, at most ``limit``): as decided then,
    under the current thresholds, and under the thresholds tried (when valid). ``bands`` and
    ``unsure_links`` are for the thresholds tried, else the current ones: ``unsure_links`` of
    the auto-links counted were sent to review without a person rule recorded, so a rule might
    still hold them back (an upper bound, see RecordedDecision.unsure_of_person_rules)."""

    decisions: int
    as_decided: Outcomes
    current: Outcomes
    tried: Outcomes | None
    bands: list[ScoreBand]
    unsure_links: int
    limit: int
    # The thresholds the bands and unsure_links are for.
    auto_link: float
    review: float


def recent_match_decisions(*, flow: Flow, limit: int = PREVIEW_DECISIONS) -> list[RecordedDecision]:
    """The flow's latest ``limit`` recorded matching decisions, newest first, one per source
    record (its latest). Two queries, each a LIMIT over the flow's rows newest first; only the
    scores are read out of the JSON. Records that matching found new are not recorded as such,
    so none of them is here."""
    links = (
        AuditEntry.objects.filter(flow=flow, action=AuditEntry.Action.LINK, match__isnull=False)
        .order_by("-id")
        .values_list("source_id", "created_at", *_score_columns("match"))[:limit]
    )
    items = (
        flow.review_items.filter(kind=FailureKind.POSSIBLE_DUPLICATE)
        .order_by("-id")
        .values_list(
            "source_id",
            "last_seen",
            *_score_columns("candidates__0"),
            *_score_columns("candidates__1"),
        )[:limit]
    )
    found = [_decision(source_id, at, AUTO_LINK, [columns]) for source_id, at, *columns in links]
    found += [
        _decision(source_id, at, REVIEW, [columns[:4], columns[4:]])
        for source_id, at, *columns in items
    ]
    found = [decision for decision in found if decision is not None]
    found.sort(key=lambda decision: decision.at, reverse=True)
    latest: dict[str, RecordedDecision] = {}
    for decision in found:
        latest.setdefault(decision.source_id, decision)
    return list(latest.values())[:limit]


def _score_columns(candidate: str) -> tuple[str, ...]:
    # A candidate's recorded total, its mean before the person rules, the first rule that
    # capped it (if any), and the source record it was already linked from (if any).
    return (
        f"{candidate}__score__total",
        f"{candidate}__score__uncapped",
        f"{candidate}__score__caps__0",
        f"{candidate}__linked_from",
    )


def _decision(
    source_id: str, at: datetime, decided: str, columns: list[Sequence[Any]]
) -> RecordedDecision | None:
    candidates = []
    for total, uncapped, first_cap, linked_from in columns:
        if not _is_score(total):
            break
        candidates.append(
            ScoredCandidate(
                mean=float(uncapped) if _is_score(uncapped) else float(total),
                capped=bool(first_cap),
                linked_elsewhere=bool(linked_from),
            )
        )
    if not candidates:
        return None
    return RecordedDecision(source_id, at, decided, float(columns[0][0]), tuple(candidates))


def outcomes_under(
    decisions: Iterable[RecordedDecision], *, auto_link: float, review: float
) -> Outcomes:
    counts = {AUTO_LINK: 0, REVIEW: 0, NEW: 0}
    for decision in decisions:
        counts[decision.verdict(auto_link=auto_link, review=review)] += 1
    return Outcomes(**counts)


def score_bands(
    decisions: Sequence[RecordedDecision], *, auto_link: float, review: float
) -> list[ScoreBand]:
    """The best scores in bands BAND_WIDTH wide, from LOWEST_BAND (or the band of the lowest
    score, when lower) to 1.0, each split by what its decisions would become."""
    steps = round(1 / BAND_WIDTH)
    lowest = min((d.score for d in decisions), default=1.0)
    first = min(_band_of(lowest, steps), round(LOWEST_BAND * steps))
    counts = [{AUTO_LINK: 0, REVIEW: 0, NEW: 0} for _ in range(first, steps)]
    for decision in decisions:
        band = _band_of(decision.score, steps) - first
        counts[band][decision.verdict(auto_link=auto_link, review=review)] += 1
    return [
        ScoreBand(
            low=round((first + i) / steps, 4),
            high=round((first + i + 1) / steps, 4),
            outcomes=Outcomes(**band),
        )
        for i, band in enumerate(counts)
    ]


def matching_preview(
    *,
    flow: Flow,
    spec: MatchSpec,
    auto_link: float | None = None,
    review: float | None = None,
    limit: int = PREVIEW_DECISIONS,
) -> MatchingPreview:
    """What the flow's latest recorded decisions were, what they would be under the spec's
    thresholds, and under ``auto_link`` and ``review`` when both are given (checked by the
    caller: see ThresholdsForm). Two queries (recent_match_decisions)."""
    decisions = recent_match_decisions(flow=flow, limit=limit)
    tried = auto_link is not None and review is not None
    split = (
        {"auto_link": auto_link, "review": review}
        if tried
        else {
            "auto_link": spec.auto_link,
            "review": spec.review,
        }
    )
    return MatchingPreview(
        decisions=len(decisions),
        as_decided=Outcomes(
            auto_link=sum(d.decided == AUTO_LINK for d in decisions),
            review=sum(d.decided == REVIEW for d in decisions),
        ),
        current=outcomes_under(decisions, auto_link=spec.auto_link, review=spec.review),
        tried=outcomes_under(decisions, **split) if tried else None,
        bands=score_bands(decisions, **split),
        unsure_links=sum(
            d.unsure_of_person_rules and d.verdict(**split) == AUTO_LINK for d in decisions
        ),
        limit=limit,
        **split,
    )


def match_index_summary(*, flow: Flow) -> dict[str, Any]:
    """How many of the target resource's records the index holds, and when one was last seen
    (written by the console or read from the target). One aggregate over the index's range of
    this system and resource (its unique index leads with them), not the whole table."""
    return TargetRecord.objects.filter(
        system_id=flow.target_system_id, resource=flow.target_resource
    ).aggregate(records=Count("*"), last_seen=Max("seen_at"))


def spec_problems(data_class: DataClass) -> list[str]:
    """Why the data class's stored matching does not parse (none when it does, or is empty):
    such a class is matched as if it had none (DataClass.match_spec)."""
    if not data_class.matching:
        return []
    try:
        MatchSpec.from_config(data_class.matching)
    except MatchSpecError as exc:
        return exc.problems
    return []


def _is_score(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= 1
    )


def _band_of(score: float, steps: int) -> int:
    # Rounded before flooring: 0.55 * 20 is 11.000000000000002 in floating point, 0.15 * 20 is
    # 3.0000000000000004; a score on a band's lower edge belongs to that band.
    return min(math.floor(round(score * steps, 6)), steps - 1)


# --- services ---------------------------------------------------------------------------------


class ThresholdsNotSaved(Exception):
    """The thresholds could not be saved; ``problems`` says why, in words to act on."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def match_thresholds_save(
    *, data_class: DataClass, auto_link: float, review: float, user: AbstractBaseUser
) -> bool:
    """Set the data class's two thresholds, keeping the rest of its match spec as stored: the
    spec is read again under a row lock, rebuilt with the thresholds (MatchSpec checks them),
    written back with ``full_clean()``, and its history records ``user`` and the change.
    Transactional; False (and nothing written) when the thresholds are already these. Raises
    ThresholdsNotSaved when the class has no matching, its spec does not parse, or the
    thresholds are not valid."""
    with transaction.atomic():
        locked = DataClass.objects.select_for_update().get(pk=data_class.pk)
        if not locked.matching:
            raise ThresholdsNotSaved(
                [f"{locked} has no matching: set its match spec in the admin first."]
            )
        try:
            spec = MatchSpec.from_config(locked.matching)
            changed = replace(spec, auto_link=auto_link, review=review)
        except MatchSpecError as exc:
            raise ThresholdsNotSaved(exc.problems) from exc
        if changed == spec:
            return False
        locked.matching = changed.to_config()
        try:
            locked.full_clean()
        except ValidationError as exc:
            raise ThresholdsNotSaved(exc.messages) from exc
        locked._history_user = user
        locked._change_reason = (
            f"Matching thresholds: auto-link {spec.auto_link:g} → {changed.auto_link:g}, "
            f"review {spec.review:g} → {changed.review:g}"
        )
        locked.save()
    data_class.matching = locked.matching
    return True


def match_index_refresh_queue(*, flow: Flow) -> None:
    """Queue a job that reads the flow's target resource into the match index (after the
    current transaction commits, at once outside one). Raises MatchingOff when the flow's data
    class has no matching, and JobNotQueued when the job queue refuses the job: nobody is told
    "queued" when it is not."""
    if flow.data_class.match_spec is None:
        raise MatchingOff(f"{flow.data_class} has no matching configured: nothing to index.")
    enqueue_job(REFRESH_MATCH_INDEX, flow.pk)
