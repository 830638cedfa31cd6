"""What makes two failures one problem: a review item's fingerprint, and the cause people read.

The fingerprint is the SHA-256 (64 hexadecimal characters) of four parts:

- the flow's id;
- the failure's kind;
- its **error code**: the engine's reason with what differs from record to record taken out;
- the names of the failing fields, sorted.

The error code is the reason with:

- the record's own ids (its source id, the target's id for it) removed;
- each quoted value ('UK', "Acme") kept when it reads like a value that many records share (a
  country, a code, a term), and replaced by '…' when it holds a digit or an '@', or is longer
  than 40 characters (an e-mail address, a phone number, an id, free text): that is one
  record's data, and the problem is then its format, not the value;
- any other word holding an '@' replaced by '…', and any word holding a digit by '#' (ids such
  as E-10002, counts, durations, HTTP statuses);
- case and spacing ignored.

So "'UK' is not one of the allowed values" and "'BR' is not one of the allowed values" are two
causes (each is fixed on its own: an alias, an allowed value), while "'ada@' does not match the
expected format" and "'bob@example' does not match the expected format" are one (the format).
Pure functions: no database, no settings, so migrations can use them too.
"""

import hashlib
import re
from collections.abc import Iterable
from typing import Any

# The engine's reason, as review_item_record_failure may prefix it for a record that fails
# again after a person fixed it: the prefix names that earlier item and is no part of the cause.
AFTER_FIX_PREFIX = re.compile(r"^Failed again after a fix \(item #\d+\)\. ")
LONGEST_SHARED_VALUE = 40
CAUSE_LENGTH = 200
HIDDEN = "…"

# A quoted value: straight or typographic quotes, not an apostrophe inside a word ("ERP's").
_QUOTED = re.compile(
    r"(?<!\w)(?:"
    r"'(?P<single>[^'\n]*)'"
    r'|"(?P<double>[^"\n]*)"'
    r"|“(?P<curly>[^”\n]*)”"
    r"|‘(?P<curly_single>[^’\n]*)’"
    r")(?!\w)"
)
_WITH_AT = re.compile(r"\S*@\S*")
_WITH_DIGIT = re.compile(r"[\w-]*\d[\w-]*")
_SPACES = re.compile(r"\s+")


def failure_fingerprint(
    *,
    flow_id: int,
    kind: str,
    reason: str,
    field_errors: Any,
    record_ids: Iterable[str] = (),
) -> str:
    """The fingerprint of a failure of a record of the flow ``flow_id`` (see the module)."""
    fields = ",".join(sorted(str(name) for name in _as_dict(field_errors)))
    code = error_code(reason, record_ids=record_ids)
    key = "\x1f".join([str(flow_id), kind, code, fields])
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def error_code(reason: str, *, record_ids: Iterable[str] = ()) -> str:
    """The reason with what differs from record to record taken out (see the module)."""
    text = _without_record_ids(AFTER_FIX_PREFIX.sub("", reason or ""), record_ids)
    text = _QUOTED.sub(_shared_value_or_hidden, text)
    text = _WITH_AT.sub(HIDDEN, text)
    text = _WITH_DIGIT.sub("#", text)
    return _SPACES.sub(" ", text).strip().casefold()


def failure_cause(*, reason: str, field_errors: Any, record_ids: Iterable[str] = ()) -> str:
    """A short line that says what failed, for people: the first failing field (by name) and
    its first message ("country_code: 'UK' is not one of the allowed values: …"), or the reason
    when no field is named. One record's own data (its ids, values that are not shared, see
    the module) is shown as '…', so items of one group read alike."""
    errors = _as_dict(field_errors)
    reason = AFTER_FIX_PREFIX.sub("", reason or "")
    if errors:
        name = sorted(errors, key=str)[0]
        text = f"{name}: {_first_message(errors[name]) or reason}"
        if len(errors) > 1:
            more = len(errors) - 1
            text += f" (and {more} more field{'s' if more > 1 else ''})"
    else:
        text = reason
    text = _without_record_ids(text, record_ids, HIDDEN)
    text = _QUOTED.sub(_shared_value_or_hidden, text)
    text = _WITH_AT.sub(HIDDEN, text)
    text = _SPACES.sub(" ", text).strip()
    if len(text) > CAUSE_LENGTH:
        text = text[: CAUSE_LENGTH - 1].rstrip() + HIDDEN
    return text


def _as_dict(field_errors: Any) -> dict:
    return field_errors if isinstance(field_errors, dict) else {}


def _first_message(messages: Any) -> str:
    if isinstance(messages, list | tuple):
        return str(messages[0]) if messages else ""
    return "" if messages is None else str(messages)


def _without_record_ids(text: str, record_ids: Iterable[str], replacement: str = "#") -> str:
    """``text`` with each record id (a whole word of it) replaced. Ids shorter than three
    characters are left: "a" or "7" would hit ordinary words and numbers (the digit rule takes
    care of those)."""
    ids = sorted({i for i in record_ids if i and len(i) >= 3}, key=len, reverse=True)
    for record_id in ids:  # longest first: an id that contains another goes whole
        text = re.sub(rf"(?<![\w-]){re.escape(record_id)}(?![\w-])", replacement, text)
    return text


def _shared_value_or_hidden(match: re.Match) -> str:
    quote = match.group(0)[0]
    value = next(
        v for v in match.group("single", "double", "curly", "curly_single") if v is not None
    )
    if _is_shared(value):
        return match.group(0)
    closing = {"“": "”", "‘": "’"}.get(quote, quote)
    return f"{quote}{HIDDEN}{closing}"


def _is_shared(value: str) -> bool:
    """Whether a quoted value reads like one many records share (a code, a country, a term)
    rather than one record's own data."""
    return (
        len(value) <= LONGEST_SHARED_VALUE
        and "@" not in value
        and not any(char.isdigit() for char in value)
    )
