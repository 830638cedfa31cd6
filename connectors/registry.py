"""Connector kinds by name, as a System row names them.

The kinds shipped here are listed in BUILTIN_KINDS; a package of its own adds a kind through
the entry-point group ``integration_console.connectors`` (in its pyproject.toml:
``[project.entry-points."integration_console.connectors"] shopware = "ic_shopware:Connector"``).
A kind's class takes ``(base_url, *, token, timeout, rate_limit_per_second, settings)``, and
optionally ``limiter`` (an object whose ``wait()`` returns when a request may go, shared by the
system's connectors), and may offer ``settings_errors(settings) -> list[str]`` to check a
System's settings when it is saved.
"""

import functools
import inspect
from importlib.metadata import entry_points
from typing import Any

from django.utils.module_loading import import_string

from .base import Connector

ENTRY_POINT_GROUP = "integration_console.connectors"
BUILTIN_KINDS: dict[str, str] = {
    "rest": "connectors.rest.client.RestConnector",
    "tryton": "connectors.tryton.client.TrytonConnector",
}


@functools.cache
def connector_kinds() -> dict[str, Any]:
    """Kind name -> its class (or entry point, loaded when first used)."""
    kinds: dict[str, Any] = dict(BUILTIN_KINDS)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        kinds.setdefault(point.name, point)
    return kinds


def connector_class(kind: str) -> type:
    try:
        found = connector_kinds()[kind]
    except KeyError:
        raise ValueError(f"Unknown connector kind {kind!r}.") from None
    return import_string(found) if isinstance(found, str) else found.load()


def connector_kind_choices() -> list[tuple[str, str]]:
    """(kind, label) for the System form: a class's ``label``, else its kind's name."""
    choices = []
    for kind in sorted(connector_kinds()):
        try:
            label = getattr(connector_class(kind), "label", kind)
        except Exception:  # noqa: BLE001 - a broken plug-in must not break the admin
            label = f"{kind} (cannot be loaded)"
        choices.append((kind, label))
    return choices


def connector_settings_examples() -> dict[str, Any]:
    """Kind -> an example of its settings (a class's ``settings_example``), for the admin."""
    examples = {}
    for kind in sorted(connector_kinds()):
        try:
            example = getattr(connector_class(kind), "settings_example", None)
        except Exception:  # noqa: BLE001 - a broken plug-in must not break the admin
            continue
        if example is not None:
            examples[kind] = example
    return examples


def connector_settings_errors(kind: str, settings: dict[str, Any]) -> list[str]:
    """Why ``settings`` do not suit the kind, as sentences; empty when they do."""
    try:
        cls = connector_class(kind)
    except (ValueError, ImportError) as exc:
        return [str(exc)]
    check = getattr(cls, "settings_errors", None)
    return list(check(settings)) if check else []


def build_connector(
    kind: str,
    *,
    base_url: str,
    token: str | None,
    timeout: float,
    rate_limit_per_second: float | None = None,
    settings: dict[str, Any] | None = None,
    limiter: Any = None,
) -> Connector:
    cls = connector_class(kind)
    # A limiter shared by the system's connectors goes to the kinds that take one (``limiter=``);
    # the others keep rate_limit_per_second in their own process.
    takes_limiter = limiter is not None and "limiter" in inspect.signature(cls).parameters
    return cls(
        base_url,
        token=token,
        timeout=timeout,
        rate_limit_per_second=rate_limit_per_second,
        settings=settings or {},
        **({"limiter": limiter} if takes_limiter else {}),
    )
