"""Chaos for the simulated systems: what goes wrong besides an error status.

Armed with ``POST /_control/chaos/<kind>`` and a JSON object; each call answers 200 with what it
armed, or 400 ``{"detail": "..."}`` naming the first bad option. ``POST /_control/reset`` clears
every kind. ``system`` is ``"crm"`` or ``"erp"``; a system's requests are those under
``/crm/api``, ``/erp/api`` and ``/styles/<style>/<system>/`` (styles.py). The status faults of
``POST /_control/faults`` still work as before and are checked first; then, of the kinds below,
a request meets at most one: an armed ``drop``, else an armed ``timeout``, else ``failure_rate``.

``timeout``  ``{"system": "erp", "count": 1, "seconds": 1.0, "after_write": false}``
    The next ``count`` (default 1) requests to the system are held ``seconds`` (default 1.0, at
    most 120; set it above the client's timeout) and then carried out and answered, as a slow
    server does: the client has given up by then, but a write still lands. With ``after_write``
    the request is carried out first and its answer held.
``drop``  ``{"system": "erp", "count": 1, "after_write": false}``
    The next ``count`` requests get no answer at all: the server closes the connection without
    a status line. With ``after_write`` the request is carried out first (a lost answer).
``failure_rate``  ``{"system": "erp", "failure_rate": 0.3, "seed": 7, "seconds": 1.0}``
    From now on each request to the system fails with that probability (0 turns it off), with
    one of, evenly: 500, 503, 429 with ``Retry-After: 0``, a ``timeout`` of ``seconds`` (default
    1.0), a ``drop``. None of these carries out the request, except the timeout, which carries
    it out after the hold. The draws come from ``random.Random(seed)`` (default seed 0), one or
    two per request to that system, so the same seed and the same requests fail the same way.
``rename_field``  ``{"system": "crm", "from": "email", "to": "e_mail"}``
    From now on every record in the system's answers (any JSON object with both ``id`` and
    ``updated_at``, at any depth) carries the value of ``from`` under ``to``. Writes and
    filters still use the real name. ``id`` and ``updated_at`` cannot be renamed; several
    renames add up.
``new_enum_value``  ``{"system": "crm", "field": "country", "value": "Atlantis", "id": "C-0001"}``
    Stores a value the field never had in one record, bypassing the system's validation, and
    moves its ``updated_at`` to now, so an incremental read sees it. Defaults: ``field``
    ``country`` (crm) or ``country_code`` (erp), ``value`` ``"Atlantis"`` (crm) or ``"XA"``
    (erp), ``id`` the system's lowest id. Answers the record's id, field and value.
``expire_tokens``  ``{}``
    Every token issued so far (OAuth2 bearer tokens and session tokens, styles.py) is refused
    from now on; new ones can be obtained as before.

This module holds only the state of the armed kinds and the per-request draw; World (world.py)
owns one Chaos and carries out ``new_enum_value`` and ``expire_tokens`` itself, and the server
acts out each Mishap.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

MAX_HOLD_SECONDS = 120.0
DEFAULT_HOLD_SECONDS = 1.0
UNRENAMEABLE = frozenset({"id", "updated_at"})

MishapKind = Literal["status", "timeout", "drop"]


@dataclass(frozen=True)
class Mishap:
    """What happens to one request instead of (or on top of) its normal answer."""

    kind: MishapKind
    status: int = 0
    retry_after: int | None = None
    seconds: float = 0.0
    after_write: bool = False


@dataclass(frozen=True)
class _Countdown:
    mishap: Mishap
    count: int


@dataclass(frozen=True)
class _FailureRate:
    rate: float
    rng: random.Random
    mix: tuple[Mishap, ...]


# --- options ------------------------------------------------------------------------------


def _int_option(options: Mapping[str, Any], name: str, default: int, low: int) -> int:
    value = options.get(name, default)
    # bool is an int subclass, but "count": true is a client mistake, not 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer of at least {low}.")
    return value


def _number_option(
    options: Mapping[str, Any], name: str, default: float, low: float, high: float
) -> float:
    value = options.get(name, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be a number between {low:g} and {high:g}.")
    return float(value)


def _flag_option(options: Mapping[str, Any], name: str) -> bool:
    value = options.get(name, False)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false.")
    return value


def _name_option(options: Mapping[str, Any], name: str) -> str:
    value = options.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a field name.")
    return value


def _hold(options: Mapping[str, Any]) -> float:
    return _number_option(options, "seconds", DEFAULT_HOLD_SECONDS, 0, MAX_HOLD_SECONDS)


# --- answers ------------------------------------------------------------------------------


def renamed(value: Any, renames: Mapping[str, str]) -> Any:
    """value with the keys of every record-shaped object in it renamed."""
    if isinstance(value, list):
        return [renamed(item, renames) for item in value]
    if isinstance(value, Mapping):
        if "id" in value and "updated_at" in value:
            return {renames.get(name, name): item for name, item in value.items()}
        return {name: renamed(item, renames) for name, item in value.items()}
    return value


class Chaos:
    """The armed chaos of both systems; every method is atomic (requests run in threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._countdowns: dict[tuple[str, MishapKind], _Countdown] = {}
            self._failure_rates: dict[str, _FailureRate] = {}
            self._renames: dict[str, dict[str, str]] = {}

    def arm(self, kind: str, system: str, options: Mapping[str, Any]) -> dict[str, Any]:
        """Arm timeout, drop, failure_rate or rename_field; ValueError says what is wrong."""
        if kind in ("timeout", "drop"):
            return self._arm_countdown(kind, system, options)
        if kind == "failure_rate":
            return self._arm_failure_rate(system, options)
        if kind == "rename_field":
            return self._arm_rename(system, options)
        raise ValueError(f"Unknown chaos kind {kind!r}.")

    def _arm_countdown(
        self, kind: Literal["timeout", "drop"], system: str, options: Mapping[str, Any]
    ) -> dict[str, Any]:
        count = _int_option(options, "count", 1, 0)
        after_write = _flag_option(options, "after_write")
        seconds = _hold(options) if kind == "timeout" else 0.0
        mishap = Mishap(kind, seconds=seconds, after_write=after_write)
        with self._lock:
            self._countdowns[system, kind] = _Countdown(mishap, count)
        armed = {"system": system, "kind": kind, "count": count, "after_write": after_write}
        return armed | ({"seconds": seconds} if kind == "timeout" else {})

    def _arm_failure_rate(self, system: str, options: Mapping[str, Any]) -> dict[str, Any]:
        rate = _number_option(options, "failure_rate", 0.0, 0, 1)
        seed = _int_option(options, "seed", 0, 0)
        seconds = _hold(options)
        mix = (
            Mishap("status", status=500),
            Mishap("status", status=503),
            Mishap("status", status=429, retry_after=0),
            Mishap("timeout", seconds=seconds),
            Mishap("drop"),
        )
        with self._lock:
            if rate:
                self._failure_rates[system] = _FailureRate(rate, random.Random(seed), mix)
            else:
                self._failure_rates.pop(system, None)
        return {"system": system, "failure_rate": rate, "seed": seed, "seconds": seconds}

    def _arm_rename(self, system: str, options: Mapping[str, Any]) -> dict[str, Any]:
        source, target = _name_option(options, "from"), _name_option(options, "to")
        if source in UNRENAMEABLE or target in UNRENAMEABLE:
            raise ValueError("id and updated_at cannot be renamed.")
        with self._lock:
            renames = self._renames.setdefault(system, {})
            renames[source] = target
            return {"system": system, "renames": dict(renames)}

    def mishap(self, system: str) -> Mishap | None:
        """What befalls this request to system, if anything; uses up an armed count."""
        with self._lock:
            for kind in ("drop", "timeout"):
                countdown = self._countdowns.get((system, kind))
                if countdown is None or countdown.count < 1:
                    continue
                self._countdowns[system, kind] = _Countdown(countdown.mishap, countdown.count - 1)
                return countdown.mishap
            failure_rate = self._failure_rates.get(system)
            if failure_rate and failure_rate.rng.random() < failure_rate.rate:
                return failure_rate.rng.choice(failure_rate.mix)
            return None

    def present(self, system: str, body: Any) -> Any:
        """An answer's body as the system shows it, with any renamed fields."""
        with self._lock:
            renames = dict(self._renames.get(system, {}))
        return renamed(body, renames) if renames else body
