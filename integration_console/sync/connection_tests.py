"""Testing a system's connection before its first run: one page of one resource, the request
as it went out (secrets masked), the raw answer and the records the settings made of it."""

from itertools import islice

from django.core.exceptions import ImproperlyConfigured

from connectors.errors import ConnectorError
from connectors.rest.probe import PAGE_SIZE, ConnectionProbe, test_connection
from integration_console.catalog.models import System

from .connections import connector_for, system_token


def system_test_connection(*, system: System, resource: str) -> ConnectionProbe:
    """Read one page of ``resource`` from ``system`` with its saved settings and token, and say
    what came of it. Reads only; never raises for what the system answers."""
    try:
        token = system_token(system)
    except ImproperlyConfigured as exc:
        return ConnectionProbe(
            ok=False, request=None, answer=None, error=str(exc), error_kind="settings"
        )
    if system.connector == "rest":
        return test_connection(
            system.settings or {},
            system.base_url,
            token,
            resource,
            timeout=system.timeout_seconds,
        )
    return _probe_through_protocol(system, resource)


def _probe_through_protocol(system: System, resource: str) -> ConnectionProbe:
    """Kinds other than REST: their health check, then the first records of the resource."""
    try:
        connector = connector_for(system)
    except (ImproperlyConfigured, ValueError, ImportError) as exc:
        return ConnectionProbe(
            ok=False, request=None, answer=None, error=str(exc), error_kind="settings"
        )
    try:
        health = connector.health()
        if not health.ok:
            return ConnectionProbe(
                ok=False, request=None, answer=None, error=health.detail, error_kind="health"
            )
        records = list(islice(connector.iter_records(resource, page_size=PAGE_SIZE), PAGE_SIZE))
    except ConnectorError as exc:
        return ConnectionProbe(
            ok=False, request=None, answer=None, error=exc.message, error_kind=exc.kind
        )
    finally:
        connector.close()
    return ConnectionProbe(ok=True, request=None, answer=None, records=records)
