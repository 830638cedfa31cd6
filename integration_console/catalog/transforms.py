"""Named transforms that a field rule may chain, e.g. ``"trim|lower"``.

They live in the catalog because they are the vocabulary a field map is written in: the catalog
validates rule definitions with them and the sync engine applies them. Besides the registered
names, ``lookup:<table>`` replaces a value by its entry in a people-edited alias table
(``ValueAlias``), and ``country_iso`` consults the "country" alias table.
"""

import functools
import re
import time
from collections.abc import Callable
from typing import Any

import pycountry
from django.apps import apps
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver


class TransformError(ValueError):
    """A value that a transform cannot turn into its output; the message is for operators."""


Transform = Callable[[Any], Any]
REGISTRY: dict[str, Transform] = {}

COUNTRY_TABLE = "country"
LOOKUP_PREFIX = "lookup:"
_LOOKUP_NAME = re.compile(r"lookup:[-a-zA-Z0-9_]+")
# How long a process trusts its copy of an alias table. Saves in this process clear it at once
# (receiver below); this bound is for edits made by another process (the web admin while an RQ
# worker or another gunicorn worker runs a flow), which no signal here can hear about.
ALIAS_CACHE_SECONDS = 60.0
_alias_cache: dict[str, tuple[float, dict[str, str]]] = {}


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
    """A country to its ISO 3166-1 alpha-2 code; empty stays empty.

    Only exact matches count (alpha-2, alpha-3, name, official or common name, ignoring case
    and spacing), then the people-edited "country" alias table. Never a guess: fuzzy matching
    turned "-" into FR and "Korea" into North Korea, and a wrong country written to the target
    is worse than a review item. Anything else raises TransformError.
    """
    if _is_empty(value):
        return None
    if not isinstance(value, str):
        raise TransformError(f"Expected a country name, got {type(value).__name__}.")
    key = normalise_alias(value)
    codes = _iso_countries().get(key, set())
    if len(codes) > 1:
        raise TransformError(
            f"{_shown(value)} could be any of {', '.join(sorted(codes))}; "
            f"add a {COUNTRY_TABLE!r} alias to say which."
        )
    if codes:
        return next(iter(codes))
    code = alias_table(COUNTRY_TABLE).get(key)
    if code is None:
        raise TransformError(
            f"Unknown country: {_shown(value)}. Use an ISO code or the country's name, "
            f"or add an alias to the {COUNTRY_TABLE!r} table."
        )
    if code not in _iso_alpha_2():
        raise TransformError(
            f"The {COUNTRY_TABLE!r} alias {key!r} points to {_shown(code)}, which is not an "
            "ISO country code; correct the alias."
        )
    return code


def lookup(table: str, value: Any) -> Any:
    """``lookup:<table>``: the value the alias table ``table`` gives for ``value`` (compared
    ignoring case and spacing); empty stays empty; anything not in the table raises."""
    if _is_empty(value):
        return None
    if not isinstance(value, str):
        raise TransformError(f"Expected text to look up, got {type(value).__name__}.")
    try:
        return alias_table(table)[normalise_alias(value)]
    except KeyError:
        raise TransformError(
            f"{_shown(value)} is not in the {table!r} lookup table; add it as an alias there."
        ) from None


def normalise_alias(text: str) -> str:
    """The form aliases are stored and compared in: case folded, runs of whitespace made one
    space, none at the ends."""
    return " ".join(text.split()).casefold()


def alias_value_error(*, table: str, value: str) -> str | None:
    """Why ``value`` cannot be what an alias in ``table`` stands for, if the transforms that
    read ``table`` constrain it (the country table holds ISO alpha-2 codes)."""
    if table == COUNTRY_TABLE and value not in _iso_alpha_2():
        return f"{value!r} is not an ISO 3166-1 alpha-2 code such as 'GB' or 'DE'."
    return None


def alias_shadow_error(*, table: str, alias: str) -> str | None:
    """Why an alias would never be used: exact country names and codes are looked up first."""
    if table == COUNTRY_TABLE and normalise_alias(alias) in _iso_countries():
        return f"{alias!r} is already an ISO country name or code; it needs no alias."
    return None


def alias_table(table: str) -> dict[str, str]:
    """Normalised alias -> value for one alias table, read at most once per
    ALIAS_CACHE_SECONDS (and again after any alias is saved or deleted in this process), so
    that transforming a page of records costs no query per record."""
    now = time.monotonic()
    cached = _alias_cache.get(table)
    if cached is not None and cached[0] > now:
        return cached[1]
    # By name, not by import: models.py imports this module to validate rules and aliases.
    value_alias = apps.get_model("catalog", "ValueAlias")
    rows = dict(value_alias.objects.filter(table=table).values_list("alias", "value"))
    _alias_cache[table] = (now + ALIAS_CACHE_SECONDS, rows)
    return rows


def forget_alias_tables() -> None:
    _alias_cache.clear()


@receiver([post_save, post_delete], sender="catalog.ValueAlias")
def _alias_changed(*, using: str, **kwargs: Any) -> None:
    # Again on commit: a run in another thread may re-read the table before this transaction
    # commits, and would otherwise keep the old rows until the cache expires.
    forget_alias_tables()
    transaction.on_commit(forget_alias_tables, using=using)


@functools.cache
def _iso_countries() -> dict[str, set[str]]:
    """Every exact spelling pycountry knows (normalised) -> the alpha-2 codes it names."""
    index: dict[str, set[str]] = {}
    for country in pycountry.countries:
        for attribute in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            spelling = getattr(country, attribute, None)
            if spelling:
                index.setdefault(normalise_alias(spelling), set()).add(country.alpha_2)
    return index


@functools.cache
def _iso_alpha_2() -> frozenset[str]:
    return frozenset(country.alpha_2 for country in pycountry.countries)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _shown(value: str, limit: int = 60) -> str:
    """``value`` quoted for a message: repr escapes NUL and lone surrogates (which PostgreSQL
    refuses to store), and a huge value is cut short."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def parse_chain(chain: str) -> list[str]:
    return [name.strip() for name in chain.split("|") if name.strip()]


def is_known_transform(name: str) -> bool:
    return name in REGISTRY or _LOOKUP_NAME.fullmatch(name) is not None


def unknown_transforms(chain: str) -> list[str]:
    return [name for name in parse_chain(chain) if not is_known_transform(name)]


def lookup_tables(chain: str) -> list[str]:
    """The alias tables that ``lookup:<table>`` transforms in ``chain`` read."""
    names = parse_chain(chain)
    return [name.removeprefix(LOOKUP_PREFIX) for name in names if _LOOKUP_NAME.fullmatch(name)]


def apply_chain(chain: str, value: Any) -> Any:
    """Apply the transforms named in ``chain`` left to right.

    Raises TransformError for a value a transform rejects or for an unknown transform name.
    """
    for name in parse_chain(chain):
        if _LOOKUP_NAME.fullmatch(name):
            value = lookup(name.removeprefix(LOOKUP_PREFIX), value)
            continue
        try:
            func = REGISTRY[name]
        except KeyError:
            raise TransformError(f"Unknown transform {name!r}.") from None
        value = func(value)
    return value
