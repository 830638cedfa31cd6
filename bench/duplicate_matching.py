"""How well duplicate matching finds the people already in a target, and what it costs.
Not part of the test suite.

    .venv/bin/python bench/duplicate_matching.py             # 10,000 targets, 5,000 incoming
    .venv/bin/python bench/duplicate_matching.py --seed 2 --targets 100000 --show 5

People come from ``bench/people.py`` (seeded Faker, known duplicates of every shape, and
households that are not duplicates). The targets go into an in-memory blocking index (key ->
target ids, at most ``--per-key`` ids a key, the most recent, as the engine's index offers);
each incoming record is then decided against the candidates the index offers. Printed: the
thresholds and weights used, the confusion counts, auto-link precision and recall, the recall
of auto-link and review together, where misses come from (blocking or scoring), by shape, and
the cost per incoming record in memory.

Goals: auto-link precision >= 0.995; auto-link + review recall >= 0.99.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.people import ROLES, people  # noqa: E402
from integration_console.matching.decide import decide  # noqa: E402
from integration_console.matching.keys import (  # noqa: E402
    MAX_SCORED,
    BlockingIndex,
    blocking_keys,
)
from integration_console.matching.scoring import score  # noqa: E402
from integration_console.matching.spec import default_people_spec  # noqa: E402

PRECISION_GOAL = 0.995
RECALL_GOAL = 0.99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--incoming", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duplicate-share", type=float, default=0.4)
    parser.add_argument("--per-key", type=int, default=20, help="ids a key offers at most (0: all)")
    parser.add_argument(
        "--scored",
        type=int,
        default=MAX_SCORED,
        help="candidates scored for a record at most, those sharing the most keys (0: all)",
    )
    parser.add_argument("--show", type=int, default=0, help="print this many misses of each kind")
    parser.add_argument("--auto-link", type=float, help="instead of the default threshold")
    parser.add_argument("--review", type=float, help="instead of the default threshold")
    args = parser.parse_args()

    spec = default_people_spec(ROLES)
    spec = replace(
        spec,
        auto_link=spec.auto_link if args.auto_link is None else args.auto_link,
        review=spec.review if args.review is None else args.review,
    )
    started = time.perf_counter()
    targets, incoming = people(
        args.targets, args.incoming, seed=args.seed, duplicate_share=args.duplicate_share
    )
    generated = time.perf_counter() - started
    by_id = {t.record_id: t for t in targets}

    started = time.perf_counter()
    index = BlockingIndex(spec, max_block=args.per_key or None)
    for target in targets:
        index.add(target.record_id, target.payload)
    indexed = time.perf_counter() - started

    outcomes: Counter[str] = Counter()
    by_shape: dict[str, Counter[str]] = defaultdict(Counter)
    misses: dict[str, list] = defaultdict(list)
    costs: list[float] = []
    candidates_seen: list[int] = []
    for person in incoming:
        # CPU time: the machine may be shared, and wall time would count the others' work.
        t0 = time.process_time()
        keys = blocking_keys(person.payload, spec)
        found = index.candidates(person.payload, keys, limit=args.scored or None)
        decision = decide(person.payload, ((i, by_id[i].payload) for i in found), spec)
        costs.append(time.process_time() - t0)
        candidates_seen.append(len(found))
        outcome = _outcome(person, decision, found)
        outcomes[outcome] += 1
        by_shape[person.shape.split("+")[0] if person.true_target else person.shape][outcome] += 1
        if args.show and outcome in _BAD and len(misses[outcome]) < args.show:
            misses[outcome].append((person, decision, found))

    _print_report(args, spec, targets, incoming, outcomes, by_shape, costs, candidates_seen)
    print(
        f"\ngenerating {generated:.1f} s, indexing {indexed:.1f} s "
        f"({indexed / max(1, len(targets)) * 1e6:.0f} µs a target); largest blocks: "
        + ", ".join(f"{k} {v}" for k, v in sorted(index.largest_blocks().items()))
    )
    for outcome, examples in misses.items():
        print(f"\n--- {outcome}")
        for person, decision, found in examples:
            _print_miss(person, decision, found, by_id, spec)


_BAD = {
    "dup: auto-linked to the wrong target",
    "dup: review without the true target",
    "dup: new (missed), not blocked",
    "dup: new (missed), blocked but scored low",
    "new: auto-linked",
}


def _outcome(person, decision, found) -> str:
    ids = [c.target_id for c in decision.candidates]
    if person.true_target:
        if decision.verdict == "auto_link":
            if ids[0] == person.true_target:
                return "dup: auto-linked right"
            return "dup: auto-linked to the wrong target"
        if decision.verdict == "review":
            if person.true_target in ids:
                return "dup: review with the true target"
            return "dup: review without the true target"
        if person.true_target in found:
            return "dup: new (missed), blocked but scored low"
        return "dup: new (missed), not blocked"
    if decision.verdict == "auto_link":
        return "new: auto-linked"
    if decision.verdict == "review":
        return "new: sent to review"
    return "new: new (right)"


def _print_report(args, spec, targets, incoming, outcomes, by_shape, costs, candidates_seen):
    n_dup = sum(1 for p in incoming if p.true_target)
    auto_right = outcomes["dup: auto-linked right"]
    auto_all = (
        auto_right + outcomes["dup: auto-linked to the wrong target"] + outcomes["new: auto-linked"]
    )
    review_right = outcomes["dup: review with the true target"]
    precision = auto_right / auto_all if auto_all else 1.0
    recall_auto = auto_right / n_dup if n_dup else 1.0
    recall_both = (auto_right + review_right) / n_dup if n_dup else 1.0
    reviews = sum(v for k, v in outcomes.items() if "review" in k)

    print(
        f"duplicate matching: {len(targets):,} targets, {len(incoming):,} incoming "
        f"({n_dup:,} duplicates), seed {args.seed}, at most {args.per_key or 'all'} ids a key, "
        f"{args.scored or 'all'} scored a record"
    )
    print(f"thresholds: auto_link {spec.auto_link}, review {spec.review}")
    print(
        "weights: "
        + ", ".join(f"{c.field} ({c.method}) {c.weight:g}" for c in spec.fields)
        + "; blocking: "
        + ", ".join(spec.blocking)
    )
    print()
    width = max(len(k) for k in _ORDER)
    for key in _ORDER:
        print(f"  {key:<{width}}  {outcomes[key]:>6,}")
    print()
    print(
        f"auto-link precision  {precision:.4f}  (goal >= {PRECISION_GOAL})  "
        f"{'ok' if precision >= PRECISION_GOAL else 'MISSED'}"
    )
    print(f"auto-link recall     {recall_auto:.4f}")
    print(
        f"auto-link + review   {recall_both:.4f}  (goal >= {RECALL_GOAL})  "
        f"{'ok' if recall_both >= RECALL_GOAL else 'MISSED'}"
    )
    print(f"sent to review       {reviews:,} of {len(incoming):,} ({reviews / len(incoming):.1%})")
    costs_us = sorted(c * 1e6 for c in costs)
    p50, p99 = costs_us[len(costs_us) // 2], costs_us[int(len(costs_us) * 0.99)]
    print(
        f"cost a record        mean {statistics.fmean(costs_us):.0f} µs of CPU, p50 {p50:.0f} µs, "
        f"p99 {p99:.0f} µs (keys, index look-up, scoring, decision; in memory)"
    )
    print(
        f"candidates a record  mean {statistics.fmean(candidates_seen):.1f}, "
        f"max {max(candidates_seen)}"
    )
    print()
    columns = ["auto right", "auto wrong", "review+", "review-", "new", "missed"]
    short = {
        "dup: auto-linked right": "auto right",
        "dup: auto-linked to the wrong target": "auto wrong",
        "new: auto-linked": "auto wrong",
        "dup: review with the true target": "review+",
        "dup: review without the true target": "review-",
        "new: sent to review": "review-",
        "new: new (right)": "new",
        "dup: new (missed), blocked but scored low": "missed",
        "dup: new (missed), not blocked": "missed",
    }
    print(f"  {'by shape':<24}" + "".join(f"{c:>11}" for c in columns))
    for shape in sorted(by_shape):
        row = Counter()
        for outcome, count in by_shape[shape].items():
            row[short[outcome]] += count
        print(f"  {shape:<24}" + "".join(f"{row[c]:>11,}" for c in columns))


_ORDER = (
    "dup: auto-linked right",
    "dup: auto-linked to the wrong target",
    "dup: review with the true target",
    "dup: review without the true target",
    "dup: new (missed), blocked but scored low",
    "dup: new (missed), not blocked",
    "new: new (right)",
    "new: sent to review",
    "new: auto-linked",
)


def _print_miss(person, decision, found, by_id, spec) -> None:
    print(f"{person.record_id} {person.shape} -> {decision.verdict}")
    print(f"  incoming {person.payload}")
    if person.true_target:
        print(f"  true     {by_id[person.true_target].payload}")
    for candidate in decision.candidates[:2]:
        fields = ", ".join(
            f"{f.field} {'-' if f.score is None else f'{f.score:.2f}'}"
            for f in candidate.score.fields
        )
        print(
            f"  cand {candidate.target_id} {candidate.score.total:.3f} "
            f"(uncapped {candidate.score.uncapped}) {list(candidate.score.caps)}: {fields}"
        )
        print(f"           {candidate.values}")
    if person.true_target and person.true_target in found:
        s = score(person.payload, by_id[person.true_target].payload, spec)
        print(
            f"  true score {s.total:.3f} (uncapped {s.uncapped}) {list(s.caps)}: "
            + ", ".join(
                f"{f.field} {'-' if f.score is None else f'{f.score:.2f}'}" for f in s.fields
            )
        )


if __name__ == "__main__":
    main()
