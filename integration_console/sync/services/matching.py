"""The index of a target's records that matching looks candidates up in."""

from ..connections import connector_for
from ..identify import matching_for, refresh_from_target
from ..models import Flow


class MatchingOff(Exception):
    """The flow's data class asks for no matching."""


def match_index_refresh(*, flow: Flow) -> int:
    """Read the flow's target resource into the match index (a read-only sync of the target:
    records others created there, or that the console has not written since). Returns how
    many records were read. The console's own writes keep the index up to date between."""
    matching = matching_for(flow)
    if matching is None:
        raise MatchingOff(f"{flow.data_class} has no matching configured: nothing to index.")
    target = connector_for(flow.target_system)
    try:
        return refresh_from_target(matching, target)
    finally:
        target.close()
