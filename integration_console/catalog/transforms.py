"""Named transforms that a field rule may chain, e.g. ``"trim|lower"``.

They live in the catalog because they are the vocabulary a field map is written in: the catalog
validates rule definitions with them and the sync engine applies them.
"""

from collections.abc import Callable
from typing import Any

import pycountry


class TransformError(ValueError):
    """A value that a transform cannot turn into its output; the message is for operators."""


Transform = Callable[[Any], Any]
REGISTRY: dict[str, Transform] = {}


def register(name: str) -> Callable[[Transform], Transform]:
    def add(func: Transform) -> Transform:
        REGISTRY[name] = func
        return func

    return add


@register("trim")
def trim(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


@register("lower")
def lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


@register("upper")
def upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


@register("empty_to_none")
def empty_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


@register("country_iso")
def country_iso(value: Any) -> Any:
    """A country name (or code) to its ISO 3166-1 alpha-2 code; empty stays empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise TransformError(f"Expected a country name, got {type(value).__name__}.")
    try:
        country = pycountry.countries.lookup(value.strip())
    except LookupError:
        try:
            country = pycountry.countries.search_fuzzy(value.strip())[0]
        except LookupError:
            raise TransformError(f"Unknown country: {value!r}.") from None
    return country.alpha_2


def parse_chain(chain: str) -> list[str]:
    return [name.strip() for name in chain.split("|") if name.strip()]


def unknown_transforms(chain: str) -> list[str]:
    return [name for name in parse_chain(chain) if name not in REGISTRY]


def apply_chain(chain: str, value: Any) -> Any:
    """Apply the transforms named in ``chain`` left to right.

    Raises TransformError for a value a transform rejects or for an unknown transform name.
    """
    for name in parse_chain(chain):
        try:
            func = REGISTRY[name]
        except KeyError:
            raise TransformError(f"Unknown transform {name!r}.") from None
        value = func(value)
    return value
