"""Why a record could not be synced: the kinds DESIGN.md names, and one failure's details."""

from dataclasses import dataclass, field
from typing import Any

from django.db import models


class FailureKind(models.TextChoices):
    CONTRACT_DRIFT = "contract_drift", "Contract drift"
    MAPPING_ERROR = "mapping_error", "Mapping error"
    INVALID = "invalid", "Invalid"
    CONFLICT = "conflict", "Conflict"
    POSSIBLE_DUPLICATE = "possible_duplicate", "Possible duplicate"
    TARGET_REJECTED = "target_rejected", "Rejected by target"
    ALREADY_EXISTS = "already_exists", "Already exists in target"
    RETRIES_EXHAUSTED = "retries_exhausted", "Retries exhausted"
    SOURCE_UNAVAILABLE = "source_unavailable", "Source record unavailable"
    INTERNAL_ERROR = "internal_error", "Internal error"


# The review-item statuses in which a failed record still needs a person: said once, here, in
# the vocabulary the engine hands its failures over in, because the overview (sync) counts them
# and the queue (which sync must not import) defines its statuses with them.
NEEDS_ATTENTION = ("open", "in_progress", "retrying")


@dataclass
class RecordFailure(Exception):
    """Raised inside the pipeline to stop one record; becomes an audit entry and a review item."""

    kind: str
    reason: str
    field_errors: dict[str, list[str]] = field(default_factory=dict)
    target_response: Any = None
    existing_target_id: str = ""
    # For a possible duplicate: the target records it may be, best first (Candidate.to_json).
    candidates: list[dict] = field(default_factory=list)
    # Every record would fail the same way (credentials refused, target down): stop the run.
    stops_run: bool = False

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"


def describe_field_errors(field_errors: dict[str, list[str]]) -> str:
    """One line an operator can read in a list: ``field: message; field: message``."""
    return "; ".join(
        f"{name}: {' '.join(messages)}" for name, messages in sorted(field_errors.items())
    )
