"""What the overview keeps between requests."""

from django.db import models


class OverviewSnapshot(models.Model):
    """The review queue's figures on the overview (the backlog by flow, kind and age, the items
    opened and closed per day, the times to resolve) as last counted, for one time zone (its
    days are that zone's). Every request and every web process reads this row instead of
    counting a million items again; integration_console/ops/services.py says when it is
    recounted, and the page says when it was."""

    time_zone = models.CharField(max_length=64, unique=True)
    counted_at = models.DateTimeField()
    figures = models.JSONField(help_text="selectors.QueueFigures.to_json()")
    # When a request found the figures older than a minute and queued their recount: the
    # compare-and-set on it queues one recount however many requests find them so.
    recount_asked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Overview figures ({self.time_zone}) counted at {self.counted_at:%Y-%m-%d %H:%M:%S}"
