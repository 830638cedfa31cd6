"""What the catalog announces, without knowing who listens: the apps built on it (sync, the
review queue) may not be imported by it.

- version_approved: a change-controlled version (a FieldMapVersion, a ResourceContract; the
  sender is its model) became active. Arguments: version, user (who approved it). Sent inside
  the approval's transaction, once per approval (not when an active version is approved again);
  a listener that starts work outside the database does it on commit.
"""

from django.dispatch import Signal

version_approved = Signal()
