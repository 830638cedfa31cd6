"""Payloads of people for the matching tests, and the spec they are matched with."""

from typing import Any

from integration_console.matching.spec import MatchSpec, default_people_spec

ROLES = {
    "email": "email",
    "phone": "phone",
    "given_name": "given_name",
    "family_name": "family_name",
    "postcode": "postcode",
    "country": "country_code",
    "birth_date": "birth_date",
    "company": "company",
}


def people_spec(**changes: Any) -> MatchSpec:
    spec = default_people_spec(ROLES)
    if not changes:
        return spec
    return MatchSpec.from_config({**spec.to_config(), **changes})


def ada(**changes: Any) -> dict[str, Any]:
    """Ada Lovelace as a CRM would send her; ``changes`` replace fields."""
    payload = {
        "given_name": "Ada",
        "family_name": "Lovelace",
        "email": "ada.lovelace@example.com",
        "phone": "030 1234567",
        "country_code": "DE",
        "company": "Analytical Engines Ltd",
        "postcode": "10115",
        "birth_date": "1815-12-10",
    }
    payload.update(changes)
    return payload


def household_member(**changes: Any) -> dict[str, Any]:
    """Ada's husband: same family name, address and phone; his own name, e-mail and birthday."""
    payload = ada(
        given_name="William",
        email="william.king@example.com",
        birth_date="1805-02-21",
        company=None,
    )
    payload.update(changes)
    return payload
