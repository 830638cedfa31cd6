"""Building a connector for a System row: the edge where settings meet the outside world."""

import os

from connectors.base import Connector
from connectors.registry import build_connector
from integration_console.catalog.models import System


def connector_for(system: System) -> Connector:
    token = os.environ.get(system.auth_env_var) if system.auth_env_var else None
    return build_connector(
        system.connector, base_url=system.base_url, token=token, timeout=system.timeout_seconds
    )
