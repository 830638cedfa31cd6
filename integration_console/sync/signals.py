"""How the engine announces each record's outcome, without knowing who listens.

Both are sent inside the record's transaction, so a listener's writes commit or roll back with
the audit entry. Arguments:
- record_failed: flow, source_id, failure (RecordFailure), source_record, payload, audit_entry
- record_synced: flow, source_id, target_id, audit_entry
- record_held_back: flow, source_id, reason; a retry went through but the flow's stage let
  nothing be written (it changed to dry run or read only after the retry was asked for)
- merge_undone: flow, source_id, reason, actor; a merge of the record was undone, and it has
  no link again: a person decides anew
"""

from django.dispatch import Signal

record_failed = Signal()
record_synced = Signal()
record_held_back = Signal()
merge_undone = Signal()
