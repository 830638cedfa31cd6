"""Normalisers: the form in which two values are compared or turned into blocking keys.

Every normaliser takes any value a payload may hold (None, numbers, NaN, bytes, NUL bytes, huge
strings, lists, dicts) and returns a ``str`` or ``None``; none of them raises. ``None`` means
"nothing usable here": the value does not count in a comparison and makes no blocking key.
Only the first ``MAX_INPUT`` characters of a value are looked at, so a megabyte of garbage
costs no more than a name.

What they deliberately do not do:

- ``email`` folds case (no provider treats the local part case-sensitively in practice) and
  strips dots and ``+tags`` only for Gmail, whose documentation says both are ignored. Other
  providers differ (``+`` is an ordinary character for some), so there a ``+tag`` stays.
- ``phone`` needs a country to read a national number ("030 1234567"); without one only an
  international number ("+49 30 1234567", "0049 30 1234567") can be read. Letters are never
  read as digits: "mobile" after a number is a word, not a vanity number.
- ``name`` keeps every word but a leading title and a trailing generational suffix; hyphenated
  names become separate words.
"""

import math
import re
import unicodedata
from collections.abc import Callable
from datetime import date as date_type
from datetime import datetime
from decimal import Decimal
from functools import cache, lru_cache, wraps
from typing import Any, TypeVar

import jellyfish
import phonenumbers
import pycountry
from nicknames import NickNamer

MAX_INPUT = 1000
MAX_OUTPUT = 200
_CACHE = 1 << 16

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u2060\ufeff]")
_APOSTROPHES = re.compile(r"['’‘`´ʼ]")
_NOT_WORD = re.compile(r"[\W_]+")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"\s+")
# Letters that do not decompose into a base letter and an accent.
_LETTERS = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i", "ħ": "h"}
)
_TITLES = frozenset(
    "mr mrs ms miss mx dr prof sir dame herr frau fr hr mme mlle monsieur madame".split()
)
_SUFFIXES = frozenset("jr sr ii iii iv phd md esq".split())
_GMAIL = frozenset({"gmail.com", "googlemail.com"})
_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_NUMBER_START = re.compile(r"[\d+(]")
_NUMBER_END = re.compile(r"[^\d\s()+\-./]")
# What systems write when they do not know a date: not anybody's birthday to match on.
_PLACEHOLDER_DATES = frozenset({"1900-01-01", "1899-12-31", "1899-12-30"})


_Result = TypeVar("_Result")


def _never_raises(fallback: Any) -> Callable[[Callable[..., _Result]], Callable[..., _Result]]:
    """Whatever a library does with a strange value, a normaliser answers ``fallback``."""

    def decorate(normaliser: Callable[..., _Result]) -> Callable[..., _Result]:
        @wraps(normaliser)
        def safe(*args: Any) -> _Result:
            try:
                return normaliser(*args)
            except Exception:
                return fallback

        return safe

    return decorate


def text(value: Any) -> str | None:
    """``value`` as clean text: NFKC, no control or zero-width characters, no lone surrogates,
    spaces collapsed, trimmed; ``None`` for what is not a scalar (lists, dicts, objects), for
    booleans, NaN and the infinities, and for what is empty once cleaned."""
    try:
        raw = value if type(value) is str else _raw_text(value)
        if raw is None:
            return None
        return _clean(raw[:MAX_INPUT])
    except Exception:  # a normaliser never raises, whatever it is handed
        return None


@_never_raises(None)
def exact(value: Any) -> str | None:
    """The form for exact comparison and ``field:`` blocking keys: case, accents, spaces and
    punctuation do not count ("SW1A 1AA" == "sw1a-1aa")."""
    cleaned = text(value)
    return _exact(cleaned) if cleaned else None


@_never_raises(None)
def name(value: Any) -> str | None:
    """A person's name for comparison: casefolded, without accents or punctuation, hyphens as
    spaces, apostrophes dropped ("O'Brien" -> "obrien"), a leading title ("Dr.") and a trailing
    suffix ("Jr.") dropped, spaces collapsed."""
    cleaned = text(value)
    return _name(cleaned) if cleaned else None


@_never_raises(None)
def email(value: Any) -> str | None:
    """An e-mail address, lowercase and without spaces or a ``mailto:``; for Gmail also without
    dots and ``+tag`` in the local part (``googlemail.com`` is ``gmail.com``). ``None`` for what
    is not shaped like an address (one ``@``, a domain with a dot, at most 254 characters)."""
    cleaned = text(value)
    return _email(cleaned) if cleaned else None


@_never_raises(None)
def country(value: Any) -> str | None:
    """An ISO 3166 alpha-2 code ("DE") from a code, an alpha-3 code or an English name."""
    cleaned = text(value)
    return _country(cleaned) if cleaned else None


@_never_raises(None)
def phone(value: Any, country: Any = None) -> str | None:
    """A phone number in E.164 ("+4930123456"), read with the ``phonenumbers`` library:
    international numbers (with ``+`` or ``00``) always, national ones given a ``country``
    (anything ``country()`` reads). Words around the number ("Tel.", "mobile") and an
    extension are left out, so letters are never read as digits ("1-800-FLOWERS" is not
    read). ``None`` for what is not a possible number there."""
    number = phone_part(value)
    if not number:
        return None
    return _phone(number, _country_or_none(country))


@_never_raises(None)
def phone_part(value: Any) -> str | None:
    """The part of a text that is a phone number: from its first digit, ``+`` or ``(`` up to
    the first character no way of writing a number uses (a letter, ``#``, ``;``)."""
    cleaned = text(value)
    if not cleaned:
        return None
    start = _NUMBER_START.search(cleaned)
    if start is None:
        return None
    return _NUMBER_END.split(cleaned[start.start() :], 1)[0].strip() or None


@_never_raises(None)
def postcode(value: Any, country: Any = None) -> str | None:
    """A postcode: uppercase letters and digits only ("SW1A1AA"); for the US the first five
    digits of a ZIP+4. ``None`` when longer than 16 characters (that is no postcode)."""
    cleaned = text(value)
    if not cleaned:
        return None
    return _postcode(cleaned, _country_or_none(country))


@_never_raises(None)
def date(value: Any) -> str | None:
    """A calendar date as ``YYYY-MM-DD``, from a ``date``/``datetime`` or from text in ISO form
    (a time part is ignored), ``YYYYMMDD`` or ``DD.MM.YYYY``. Slashed dates are not read: they
    mean day/month in some places and month/day in others. Years before 1800 and the
    placeholders systems write for "unknown" (1900-01-01) give ``None``."""
    try:
        if isinstance(value, datetime):
            return _date(value.date().isoformat())
        if isinstance(value, date_type):
            return _date(value.isoformat())
    except Exception:
        return None
    cleaned = text(value)
    return _date(cleaned) if cleaned else None


@_never_raises(None)
def phonetic(value: Any) -> str | None:
    """A phonetic key of a surname (Metaphone, from ``jellyfish``): "Lovelace" and "Lovelase"
    both give "LFLS". Names in a script Metaphone does not know give their normalised letters."""
    normalised = name(value)
    return _phonetic(normalised) if normalised else None


@_never_raises(frozenset())
def given_name_forms(value: Any) -> frozenset[str]:
    """The normalised given name and the formal names it is a nickname of ("bob" ->
    {"bob", "robert"}), from the hand-curated ``nicknames`` dataset. Two given names that share
    a form are the same name. For a name of several words the first word counts as well."""
    normalised = name(value)
    return _given_name_forms(normalised) if normalised else frozenset()


# The text helpers below take text that ``text()`` already cleaned; they are cached because the
# same names, domains and postcodes come again and again.


def _raw_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        if abs(value) >= 10**MAX_OUTPUT:
            return None
        return str(value)
    if isinstance(value, float | Decimal):
        if not math.isfinite(value):
            return None
        if value == int(value) and abs(value) < 10**18:
            return str(int(value))
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value[: MAX_INPUT * 4]).decode("utf-8", "replace")
    if isinstance(value, datetime | date_type):
        return value.isoformat()
    return None


@lru_cache(maxsize=_CACHE)
def _clean(raw: str) -> str | None:
    if raw.isascii() and raw.isprintable():
        # Nothing to normalise, remove or re-encode: the common case, kept cheap.
        return " ".join(raw.split()) or None
    cleaned = unicodedata.normalize("NFKC", raw)
    cleaned = _CONTROL.sub(" ", cleaned)
    cleaned = cleaned.encode("utf-8", "ignore").decode("utf-8")
    cleaned = _SPACES.sub(" ", cleaned).strip()
    return cleaned or None


def _ascii_fold(cleaned: str) -> str:
    if cleaned.isascii():
        return cleaned.lower()
    decomposed = unicodedata.normalize("NFKD", cleaned.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return stripped.translate(_LETTERS)


@lru_cache(maxsize=_CACHE)
def _exact(cleaned: str) -> str | None:
    folded = _NOT_WORD.sub("", _ascii_fold(cleaned))
    return folded or None


@lru_cache(maxsize=_CACHE)
def _name(cleaned: str) -> str | None:
    folded = _APOSTROPHES.sub("", _ascii_fold(cleaned))
    words = _NOT_WORD.sub(" ", folded).split()
    if len(words) > 1 and words[0] in _TITLES:
        words = words[1:]
    if len(words) > 1 and words[-1] in _SUFFIXES:
        words = words[:-1]
    result = " ".join(words)[:MAX_OUTPUT].strip()
    return result or None


@lru_cache(maxsize=_CACHE)
def _email(cleaned: str) -> str | None:
    address = "".join(cleaned.casefold().split())
    if address.startswith("mailto:"):
        address = address[len("mailto:") :]
    address = address.strip("<>\"'.,;")
    if len(address) > 254 or address.count("@") != 1:
        return None
    local, domain = address.split("@")
    domain = domain.strip(".")
    if not local or "." not in domain or ".." in domain or domain.startswith("-"):
        return None
    if domain in _GMAIL:
        local = local.split("+", 1)[0].replace(".", "")
        domain = "gmail.com"
        if not local:
            return None
    return f"{local}@{domain}"


def _country_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return country(value)


@lru_cache(maxsize=4096)
def _country(cleaned: str) -> str | None:
    candidate = cleaned.strip().upper()
    candidate = _COUNTRY_ALIASES.get(candidate, candidate)
    if len(candidate) == 2 and candidate.isalpha():
        known = pycountry.countries.get(alpha_2=candidate)
        return known.alpha_2 if known else None
    if len(cleaned) > 100:
        return None
    try:
        return pycountry.countries.lookup(cleaned.strip()).alpha_2
    except LookupError:
        return None


@lru_cache(maxsize=_CACHE)
def _phone(cleaned: str, region: str | None) -> str | None:
    if len(cleaned) > 64:
        return None
    candidate = cleaned.strip()
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    if region is None and not candidate.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    # Some plans call two digits "possible"; nobody's phone is that short.
    if number.national_number < 10_000 or not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=_CACHE)
def _postcode(cleaned: str, region: str | None) -> str | None:
    code = _NOT_ALNUM.sub("", _ascii_fold(cleaned)).upper()
    if not code or len(code) > 16:
        return None
    if region == "US" and len(code) == 9 and code.isdigit():
        code = code[:5]
    return code


@lru_cache(maxsize=_CACHE)
def _date(cleaned: str) -> str | None:
    candidate = cleaned.strip()
    if len(candidate) == 10 and candidate[4] == "-" and candidate[7] == "-":
        # ISO, as most systems send it: read without the patterns.
        try:
            found_date = date_type.fromisoformat(candidate)
        except ValueError:
            return None
        if not 1800 <= found_date.year <= 2200:
            return None
        return None if candidate in _PLACEHOLDER_DATES else found_date.isoformat()
    for pattern, order in ((_ISO_DATE, "ymd"), (_COMPACT_DATE, "ymd"), (_DOTTED_DATE, "dmy")):
        found = pattern.fullmatch(candidate)
        if not found:
            continue
        parts = dict(zip(order, (int(g) for g in found.groups()[:3]), strict=True))
        if not 1800 <= parts["y"] <= 2200:
            return None
        try:
            found_date = date_type(parts["y"], parts["m"], parts["d"]).isoformat()
        except ValueError:
            return None
        return None if found_date in _PLACEHOLDER_DATES else found_date
    return None


@lru_cache(maxsize=_CACHE)
def _phonetic(normalised: str) -> str | None:
    letters = normalised.replace(" ", "")
    try:
        key = jellyfish.metaphone(letters) if letters.isascii() else ""
    except Exception:
        key = ""
    key = "".join(key.split()).upper() or letters.upper()
    return key[:MAX_OUTPUT] or None


@cache
def _canonical_names() -> dict[str, frozenset[str]]:
    """Nickname -> the formal names it stands for, normalised like ``name()``."""
    table: dict[str, set[str]] = {}
    for nickname, formal_names in NickNamer().canonical_lookup.items():
        key = _name(nickname)
        if key:
            table.setdefault(key, set()).update(
                n for n in (_name(formal) for formal in formal_names) if n
            )
    return {key: frozenset(names) for key, names in table.items()}


@lru_cache(maxsize=_CACHE)
def _given_name_forms(normalised: str) -> frozenset[str]:
    table = _canonical_names()
    words = normalised.split()
    forms = {normalised, *table.get(normalised, ())}
    if len(words) > 1:
        forms.add(words[0])
        forms.update(table.get(words[0], ()))
    return frozenset(forms)
