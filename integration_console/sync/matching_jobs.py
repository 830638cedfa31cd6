"""RQ entry points of the matching page, named by path where they are enqueued. Thin: load the
flow, call the service the ``refresh_match_index`` command calls."""

import logging

from connectors.errors import ConnectorError

from .models import Flow
from .services.matching import MatchingOff, match_index_refresh

logger = logging.getLogger(__name__)


def refresh_match_index(flow_id: int) -> None:
    """Read the flow's target resource into the match index. No row records the job: the page
    shows the index as it is (its count and when a record was last seen), so a refresh that
    could not be done is logged, and the page's "last seen" says it did not happen."""
    flow = Flow.objects.select_related("data_class", "target_system").filter(pk=flow_id).first()
    if flow is None:
        logger.warning("No flow %s: its match index was not refreshed.", flow_id)
        return
    try:
        read = match_index_refresh(flow=flow)
    except MatchingOff as exc:
        logger.warning("%s: %s", flow, exc)
    except ConnectorError as exc:
        logger.warning(
            "%s: could not read %s into the match index: %s", flow, flow.target_system, exc.message
        )
    else:
        logger.info("%s: %s records of %s indexed for matching.", flow, read, flow.target_system)
