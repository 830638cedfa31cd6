"""Named transforms that a field rule may chain, e.g. ``"trim|lower"``.

They live in the catalog because they are the vocabulary a field map is written in: the catalog
validates rule definitions with them and the sync engine applies them. Besides the registered
names, ``lookup:<table>`` replaces a value by its entry in a people-edited alias table
(``ValueAlias``), and ``country_iso`` consults the "country" alias table.

Some transforms take an argument after a colon, as ``lookup:`` does:

- ``split:<separator>:<index>``: one part of the text (``split: :-1``, the last word);
- ``concat:<separator>:<path>,<path>``: values of the source record joined (the separator
  cannot hold ':');
- ``template:<text>``: the text with each ``{dotted.path}`` replaced by that value of the source
  record (``template:{first_name} {last_name}``; ``{{`` and ``}}`` are braces);
- ``constant:<value>``: always ``value``;
- ``default:<value>``: ``value`` where the value is blank.

An argument cannot hold '|' (it separates the transforms), and whitespace around a '|' belongs
to no transform. ``concat``, ``template`` and ``constant`` make their value without the rule's
source value, so a rule whose chain starts with one needs no source path.
"""

import functools
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import pycountry
from django.apps import apps
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver


class TransformError(ValueError):
    """A value that a transform cannot turn into its output; the message is for operators."""


class InvalidTransform(TransformError):
    """A transform name that is not registered, or whose argument is malformed: a fault of the
    rule, not of the record. ``problem`` says it for the person who writes the rule."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(problem[:1].upper() + problem[1:])
        self.name, self.problem = name, problem


Transform = Callable[[Any], Any]
REGISTRY: dict[str, Transform] = {}
# One step of a chain: (the value so far, the whole source record or None) -> the next value.
Step = Callable[[Any, Mapping[str, Any] | None], Any]
# Transforms written ``<name>:<argument>``: name -> a function that checks the argument
# (raising ValueError that says what is wrong with it) and gives the step.
PARAMETERISED: dict[str, Callable[[str], Step]] = {}
# The parameterised transforms that make their value without the rule's source value.
MAKES_ITS_OWN_VALUE = frozenset({"concat", "template", "constant"})

COUNTRY_TABLE = "country"
LOOKUP_PREFIX = "lookup:"
_LOOKUP_NAME = re.compile(r"lookup:[-a-zA-Z0-9_]+")
# As the catalog checks a rule's source path: names joined by dots, none empty, none starting
# or ending with whitespace.
_DOTTED_PATH = re.compile(r"[^.\s](?:[^.]*[^.\s])?(?:\.[^.\s](?:[^.]*[^.\s])?)*")
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


def parameterised(name: str) -> Callable[[Callable[[str], Step]], Callable[[str], Step]]:
    def add(build: Callable[[str], Step]) -> Callable[[str], Step]:
        PARAMETERISED[name] = build
        return build

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
    try:
        _step(name)
    except InvalidTransform:
        return False
    return True


def unknown_transforms(chain: str) -> list[str]:
    """The names in ``chain`` that are not transforms: unknown, or with a malformed argument."""
    return [name for name in parse_chain(chain) if not is_known_transform(name)]


def chain_errors(chain: str) -> list[str]:
    """Why steps of ``chain`` cannot be used, one sentence each (empty when all can): an
    unknown name, or an argument that does not fit its transform."""
    errors = []
    for name in parse_chain(chain):
        try:
            _step(name)
        except InvalidTransform as exc:
            errors.append(exc.problem)
    return errors


def lookup_tables(chain: str) -> list[str]:
    """The alias tables that ``lookup:<table>`` transforms in ``chain`` read."""
    names = parse_chain(chain)
    return [name.removeprefix(LOOKUP_PREFIX) for name in names if _LOOKUP_NAME.fullmatch(name)]


def needs_source_path(chain: str) -> bool:
    """Whether a rule with ``chain`` reads its value at a source path: not when its first
    transform makes the value itself (``constant:``, ``template:``, ``concat:``)."""
    names = parse_chain(chain)
    return not names or names[0].partition(":")[0] not in MAKES_ITS_OWN_VALUE


def record_paths(chain: str) -> list[str]:
    """The source-record paths that ``concat:`` and ``template:`` steps of ``chain`` read,
    besides the rule's source path (to mask them where the rule fills a sensitive field).
    Malformed steps read nothing."""
    paths: list[str] = []
    for name in parse_chain(chain):
        kind, _, argument = name.partition(":")
        try:
            if kind == "concat":
                found = _concat_arguments(argument)[1]
            elif kind == "template":
                found = [piece for piece in _template_pieces(argument) if isinstance(piece, _Path)]
            else:
                continue
        except ValueError:
            continue
        paths.extend(str(path) for path in found if str(path) not in paths)
    return paths


def apply_chain(chain: str, value: Any, *, record: Mapping[str, Any] | None = None) -> Any:
    """Apply the transforms named in ``chain`` left to right; ``record`` is the whole source
    record, which ``concat:`` and ``template:`` read (they raise TransformError without it).

    Raises TransformError for a value a transform rejects, and InvalidTransform (a
    TransformError) for an unknown transform name or a malformed argument."""
    for step in _compiled(chain):
        value = step(value, record)
    return value


@functools.lru_cache(maxsize=1024)
def _compiled(chain: str) -> tuple[Step, ...]:
    # A chain is parsed once per process, not once per record (templates especially).
    return tuple(_step(name) for name in parse_chain(chain))


def _step(name: str) -> Step:
    """The step ``name`` stands for, or InvalidTransform."""
    func = REGISTRY.get(name)
    if func is not None:
        return lambda value, record: func(value)
    kind, colon, argument = name.partition(":")
    build = PARAMETERISED.get(kind) if colon else None
    if build is None:
        raise InvalidTransform(name, f"there is no transform {_shown(name)}.")
    try:
        return build(argument)
    except ValueError as exc:
        raise InvalidTransform(name, f"{_shown(name)} is not well formed: {exc}") from None


@parameterised("lookup")
def _lookup_step(table: str) -> Step:
    if not re.fullmatch(r"[-a-zA-Z0-9_]+", table):
        raise ValueError(
            "name the alias table after 'lookup:' with letters, digits, '-' and '_' only."
        )
    return lambda value, record: lookup(table, value)


@parameterised("split")
def _split_step(argument: str) -> Step:
    """``split:<separator>:<index>``: the part at ``index`` (0 the first, -1 the last) of the
    text cut at each separator; None where there is no such part; empty stays empty."""
    separator, colon, index_text = argument.rpartition(":")
    if not colon or not separator:
        raise ValueError("write it as 'split:<separator>:<index>', e.g. 'split: :0'.")
    if not re.fullmatch(r"-?[0-9]{1,9}", index_text):
        raise ValueError(
            "the part after the last ':' must be a whole number: 0 the first part, 1 the "
            "second, -1 the last."
        )
    index = int(index_text)

    def split(value: Any, record: Mapping[str, Any] | None) -> Any:
        if _is_empty(value):
            return None
        if not isinstance(value, str):
            raise TransformError(f"Expected text to split, got {type(value).__name__}.")
        parts = value.split(separator)
        return parts[index] if -len(parts) <= index < len(parts) else None

    return split


def _concat_arguments(argument: str) -> tuple[str, list[str]]:
    separator, colon, listed = argument.partition(":")
    if not colon:
        raise ValueError(
            "write it as 'concat:<separator>:<path>,<path>', e.g. 'concat: :first_name,last_name'."
        )
    paths = [path.strip() for path in listed.split(",")]
    for path in paths:
        if not _DOTTED_PATH.fullmatch(path):
            raise ValueError(
                f"{_shown(path)} is not a dotted path such as 'address.city'; list the paths "
                "after the separator, separated by commas."
            )
    return separator, paths


@parameterised("concat")
def _concat_step(argument: str) -> Step:
    """``concat:<separator>:<path>,<path>,...``: the values at those paths of the source record
    that are not blank, joined by the separator; None when all are blank."""
    separator, paths = _concat_arguments(argument)

    def concat(value: Any, record: Mapping[str, Any] | None) -> Any:
        record = _needs_record(record, "concat")
        parts = [_as_text(path, _at_path(record, path)) for path in paths]
        kept = [part for part in parts if not _is_empty(part)]
        return separator.join(kept) if kept else None

    return concat


class _Path(str):
    """A placeholder of a template: the dotted path whose value replaces it."""


# A doubled brace, a placeholder, or a brace on its own (which is a mistake).
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def _template_pieces(text: str) -> list[str]:
    """The template as literal text and _Path placeholders, in order."""
    if not text:
        raise ValueError(
            "write the text after 'template:', e.g. 'template:{first_name} {last_name}'."
        )
    pieces: list[str] = []
    position = 0
    for token in _TEMPLATE_TOKEN.finditer(text):
        pieces.append(text[position : token.start()])
        position = token.end()
        if token[0] in ("{{", "}}"):
            pieces.append(token[0][0])
        elif token[1] is not None:
            path = token[1].strip()
            if not _DOTTED_PATH.fullmatch(path):
                raise ValueError(
                    f"the placeholder {_shown(token[0])} does not name a dotted path such as "
                    "{address.city}."
                )
            pieces.append(_Path(path))
        else:
            raise ValueError(
                f"a single {token[0]!r} must be doubled ({token[0] * 2!r}) to stand for itself."
            )
    pieces.append(text[position:])
    return [piece for piece in pieces if piece]


@parameterised("template")
def _template_step(argument: str) -> Step:
    """``template:<text>``: the text with each ``{dotted.path}`` replaced by that value of the
    source record. A placeholder without a value (missing or None) raises TransformError
    naming every such placeholder; a blank value is put in as it is."""
    pieces = _template_pieces(argument)
    paths = list(dict.fromkeys(piece for piece in pieces if isinstance(piece, _Path)))

    def template(value: Any, record: Mapping[str, Any] | None) -> Any:
        record = _needs_record(record, "template")
        values = {path: _at_path(record, path) for path in paths}
        missing = [path for path in paths if values[path] is None]
        if missing:
            named = ", ".join("{" + path + "}" for path in missing)
            raise TransformError(
                f"The template needs {named}, which the source record does not have."
            )
        return "".join(
            _as_text(piece, values[piece]) if isinstance(piece, _Path) else piece
            for piece in pieces
        )

    return template


@parameterised("constant")
def _constant_step(argument: str) -> Step:
    """``constant:<value>``: ``value`` as text, whatever the input."""
    if not argument:
        raise ValueError("write the value after 'constant:', e.g. 'constant:EUR'.")
    return lambda value, record: argument


@parameterised("default")
def _default_step(argument: str) -> Step:
    """``default:<value>``: ``value`` where the value is blank (None, or only whitespace);
    any other value as it is."""
    if not argument:
        raise ValueError("write the value after 'default:', e.g. 'default:unknown'.")
    return lambda value, record: argument if _is_empty(value) else value


def _needs_record(record: Mapping[str, Any] | None, name: str) -> Mapping[str, Any]:
    if record is None:
        raise TransformError(f"The {name!r} transform needs the whole source record.")
    return record


def _at_path(record: Any, dotted: str) -> Any:
    """The value at a dotted path of the record, or None; as the sync engine reads a rule's
    source path."""
    value = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _as_text(path: str, value: Any) -> str | None:
    """A record's value as it is written into text: text as it is, numbers in digits; None
    stays None. Anything else (true/false, objects, lists) has no one obvious spelling."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TransformError(
        f"The source field {_shown(path)} holds {type(value).__name__}, not text or a number."
    )
