"""Connector kinds by name, as a System row names them."""

from .base import Connector
from .rest.client import RestConnector

CONNECTOR_KINDS: dict[str, type] = {"rest": RestConnector}


def build_connector(
    kind: str,
    *,
    base_url: str,
    token: str | None,
    timeout: float,
    rate_limit_per_second: float | None = None,
) -> Connector:
    try:
        connector_class = CONNECTOR_KINDS[kind]
    except KeyError:
        raise ValueError(f"Unknown connector kind {kind!r}.") from None
    return connector_class(
        base_url, token=token, timeout=timeout, rate_limit_per_second=rate_limit_per_second
    )
