"""Where values sit in JSON answers, and the timestamps and ids that order records.

Paths are dotted (``data.items``, ``meta.page.next``; a number steps into a list); the empty
path is the body itself. Timestamps are read in a configured format and compared as aware
UTC datetimes; ids of equal timestamps are ordered as the simulator orders them: shorter
first, then by text, which also orders unpadded numbers by value.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

MISSING: Any = object()

ISO8601 = "iso8601"
EPOCH_SECONDS = "epoch_seconds"
EPOCH_MILLISECONDS = "epoch_milliseconds"
NAMED_DATE_FORMATS = (ISO8601, EPOCH_SECONDS, EPOCH_MILLISECONDS)


def get_path(data: Any, path: str | None, default: Any = MISSING) -> Any:
    """The value at the dotted ``path`` in ``data`` (the body itself for ""), else ``default``."""
    if not path:
        return data
    current = data
    for step in path.split("."):
        if isinstance(current, dict) and step in current:
            current = current[step]
        elif isinstance(current, list) and step.isdigit() and int(step) < len(current):
            current = current[int(step)]
        else:
            return default
    return current


def wrap_at_path(value: Any, path: str | None) -> Any:
    """``value`` placed at the dotted ``path`` of a new object (``value`` itself for "")."""
    if not path:
        return value
    for step in reversed(path.split(".")):
        value = {step: value}
    return value


def date_format_error(fmt: Any) -> str | None:
    """Why ``fmt`` cannot be a date format, or None."""
    if not isinstance(fmt, str) or not fmt:
        return (
            "must be a date format: iso8601, epoch_seconds, epoch_milliseconds or a strftime "
            "pattern"
        )
    if fmt in NAMED_DATE_FORMATS or "%" in fmt:
        return None
    return (
        f"{fmt!r} is not one of {', '.join(NAMED_DATE_FORMATS)}, nor a strftime pattern "
        "(with % codes, e.g. %d.%m.%Y %H:%M)"
    )


def parse_moment(value: Any, fmt: str = ISO8601) -> datetime | None:
    """The aware UTC moment ``value`` names in ``fmt``, or None when it names none. A value
    without a time zone is taken as UTC."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        if fmt in (EPOCH_SECONDS, EPOCH_MILLISECONDS):
            number = float(value)
            if fmt == EPOCH_MILLISECONDS:
                number /= 1000
            return datetime.fromtimestamp(number, UTC)
        if not isinstance(value, str):
            return None
        if fmt == ISO8601:
            moment = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
        else:
            moment = datetime.strptime(value, fmt)
    except (ValueError, OverflowError, OSError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_moment(moment: datetime, fmt: str = ISO8601) -> str:
    """``moment`` written in ``fmt``, for a query parameter."""
    moment = moment.astimezone(UTC)
    if fmt == EPOCH_SECONDS:
        # Rounded down: a changed-since bound may only ever widen the window.
        return str(int(moment.timestamp() // 1))
    if fmt == EPOCH_MILLISECONDS:
        return str(int(moment.timestamp() * 1000 // 1))
    if fmt == ISO8601:
        return iso(moment)
    return moment.strftime(fmt)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as the engine's positions are written."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def id_order(record_id: Any) -> tuple[int, str]:
    text = str(record_id)
    return len(text), text


def seconds(amount: float) -> timedelta:
    return timedelta(seconds=amount)
