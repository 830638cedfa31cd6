"""Tryton's JSON values made plain, and moments made Tryton's (no server needed)."""

from connectors.tryton.rpc import from_tryton, to_tryton_datetime


def test_trytons_typed_values_become_plain_json():
    row = {
        "write_date": {
            "__class__": "datetime",
            **{"year": 2026, "month": 11, "day": 26, "hour": 10, "minute": 0, "second": 0},
            "microsecond": 123456,
        },
        "birth_date": {"__class__": "date", "year": 1990, "month": 2, "day": 3},
        "credit_limit": {"__class__": "Decimal", "decimal": "1000.10"},
        "lines": [{"delay": {"__class__": "timedelta", "seconds": 90.0}}],
    }

    assert from_tryton(row) == {
        "write_date": "2026-11-26T10:00:00.123456Z",
        "birth_date": "1990-02-03",
        "credit_limit": "1000.10",
        "lines": [{"delay": 90.0}],
    }


def test_a_moment_with_an_offset_is_sent_to_tryton_in_utc():
    moment = to_tryton_datetime("2026-11-26T12:00:00.5+02:00")

    assert from_tryton(moment) == "2026-11-26T10:00:00.500000Z"
    assert to_tryton_datetime("2026-11-26T10:00:00.500000Z") == moment
