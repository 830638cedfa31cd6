"""RQ entry points of the overview. Thin: call the service a request would."""

from django.conf import settings
from django.utils import timezone

from .services import overview_recount


def recount_overview(time_zone: str) -> None:
    """Count the queue's figures again for the overview in ``time_zone`` (its days)."""
    with timezone.override(time_zone):
        overview_recount()


def recount_overview_now() -> None:
    """The cron's recount, in the console's own time zone: the overview a request finds is
    never more than two minutes old, so no request (the first of a quiet morning included)
    counts the figures itself."""
    recount_overview(settings.TIME_ZONE)
