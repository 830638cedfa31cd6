"""Duplicate matching: is a record already in the target system? Pure functions, no database.

``spec`` says what to compare (``MatchSpec``, edited as JSON on a data class), ``normalise``
puts values in comparable form, ``keys`` makes blocking keys (which records are compared at
all), ``scoring`` scores a pair field by field, and ``decide`` turns scored candidates into a
verdict: new, auto_link or review.
"""

from .decide import Candidate, Decision, batch_duplicates, decide
from .keys import BlockingIndex, blocking_keys
from .scoring import FieldScore, MatchScore, Prepared, score, score_prepared
from .spec import FieldComparison, MatchSpec, MatchSpecError, default_people_spec

__all__ = [
    "BlockingIndex",
    "Candidate",
    "Decision",
    "FieldComparison",
    "FieldScore",
    "MatchScore",
    "MatchSpec",
    "MatchSpecError",
    "Prepared",
    "batch_duplicates",
    "blocking_keys",
    "decide",
    "default_people_spec",
    "score",
    "score_prepared",
]
