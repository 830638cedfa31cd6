"""Building a connector for a System row: the edge where settings meet the outside world."""

import os

from django.core.exceptions import ImproperlyConfigured

from connectors.base import Connector
from connectors.registry import build_connector
from integration_console.catalog.models import System, auth_env_var_error


def connector_for(system: System) -> Connector:
    """A connector for ``system``, with its token read from the environment variable the
    system names. A variable that CONNECTOR_SECRET_ENV_PATTERN does not allow is refused
    (ImproperlyConfigured) before it is read: System.clean() refuses it too, but rows written
    before the pattern existed, or without clean(), must not send another secret either."""
    problem = auth_env_var_error(system.auth_env_var)
    if problem:
        raise ImproperlyConfigured(f"{system}: {problem}")
    token = os.environ.get(system.auth_env_var) if system.auth_env_var else None
    return build_connector(
        system.connector,
        base_url=system.base_url,
        token=token,
        timeout=system.timeout_seconds,
        rate_limit_per_second=system.rate_limit_per_second,
        settings=system.settings,
    )
