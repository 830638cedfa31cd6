"""In-memory state of the simulated CRM and ERP: deterministic seed, validation, writes.

Pure Python on purpose: the HTTP layer (server.py) and the unit tests drive it directly,
and nothing here touches Django or its database. One lock makes every public method of
World atomic, because the HTTP server answers each request on its own thread. Besides the
records, a World holds what its systems do to clients: armed faults, latency, chaos
(chaos.py), and the credentials and tokens of the styled APIs (styles.py).

An archived record stays in its collection but out of its list order and its email index:
lists, keyset reads and look-ups by email skip it (unless they ask for the archived ones), it
holds its email against no other record, and a get still finds it, marked ``"archived":
true``. Restoring it puts it back in both; deleting a record takes it out of everything.
"""

from __future__ import annotations

import hmac
import random
import re
import secrets
import threading
import unicodedata
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from itertools import accumulate
from typing import Any, Literal

import phonenumbers
import pycountry
from faker import Faker

from .chaos import Chaos

System = Literal["crm", "erp"]
SYSTEMS: tuple[System, ...] = ("crm", "erp")
Record = dict[str, str]
Errors = dict[str, list[str]]

ALLOWED_COUNTRIES: tuple[str, ...] = (
    "DE",
    "FR",
    "NL",
    "BE",
    "AT",
    "CH",
    "GB",
    "IE",
    "ES",
    "IT",
    "US",
)
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$", re.ASCII)
# One "@" and a dot inside the domain; whitespace is refused so untrimmed input fails.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")

CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "country", "company")
CUSTOMER_FIELDS = (
    "given_name",
    "family_name",
    "email",
    "phone",
    "country_code",
    "company",
    "crm_ref",
)
# A record's answers carry "archived": true while it is archived (World.archive_record).
ARCHIVED = "archived"
SERVER_FIELDS = frozenset({"id", "created_at", "updated_at", ARCHIVED})

REQUIRED = "This field is required."
NOT_A_STRING = "Must be a string."
UNKNOWN_FIELD = "Unknown field."
INVALID_EMAIL = "Enter a valid email address."
INVALID_PHONE = "Enter a phone number in E.164 format, e.g. +4930123456."
DUPLICATE_EMAIL = "A customer with this email already exists."

SEEDED_PROBLEMS: dict[str, str] = {
    "C-0007": "email is empty; the ERP requires one (422 on email)",
    "C-0013": "country is Brazil, which the ERP does not support (422 on country_code)",
    "C-0021": "phone is '12-34 call me', not E.164 (422 on phone)",
    "C-0029": "email is E-10002's email in other letter case (409 duplicate)",
}
SEEDED_MESS: dict[str, str] = {
    "C-0003": "email has uppercase letters and surrounding spaces (fixed by trim + lowercase)",
    "C-0005": "first_name has surrounding spaces (fixed by trim)",
    "C-0011": "last_name has trailing spaces (fixed by trim)",
}
# Contacts that are people the ERP already has, each in a shape of duplicate that an exact
# look-up misses; with e-mails of their own, so that the ERP takes them when nothing matches.
SEEDED_DUPLICATES: dict[str, str] = {
    "C-0031": "E-10001 with a re-typed e-mail (two letters swapped)",
    "C-0033": "E-10003 with given and family names swapped",
    "C-0035": "E-10005, whose phone the ERP keeps formatted, with another e-mail",
    "C-0037": "E-10004 by a nickname (Bob for Robert), with another e-mail",
}
SEEDED_CUSTOMERS = 5
DUPLICATED_CUSTOMER = "E-10002"

_LOCALES = {
    "DE": "de_DE",
    "FR": "fr_FR",
    "NL": "nl_NL",
    "BE": "nl_BE",
    "AT": "de_AT",
    "CH": "de_CH",
    "GB": "en_GB",
    "IE": "en_IE",
    "ES": "es_ES",
    "IT": "it_IT",
    "US": "en_US",
    "BR": "pt_BR",
}
_CONTACT_HISTORY = timedelta(days=14)
# Faker takes about a tenth of a millisecond a person, so a world of a million contacts would
# take minutes to seed, far longer than start_simulator waits for it to listen. The first
# FAKER_CONTACTS contacts come from Faker, person by person, as they always did: every world
# the tests, the demo and the smaller benchmarks use is the same as before. Contacts past them
# recombine the names and companies of pools that Faker fills once per country (POOL_SIZE
# draws each), which takes a few microseconds a contact and keeps them as plausible.
FAKER_CONTACTS = 2_000
POOL_SIZE = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def unsupported_country(code: str) -> str:
    return f"Country code {code} is not supported."


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    """Parse ISO 8601; a naive value is taken as UTC. Raises ValueError."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- validation ---------------------------------------------------------------------------


def validate_contact(contact: Mapping[str, str]) -> Errors:
    """The CRM's own rules: it only insists on a name."""
    required = ("first_name", "last_name")
    return {name: [REQUIRED] for name in required if not contact.get(name, "").strip()}


def validate_customer(customer: Mapping[str, str]) -> Errors:
    """The ERP's rules, reporting every failing field at once."""
    errors: Errors = {
        name: [REQUIRED]
        for name in ("given_name", "family_name", "email", "country_code")
        if not customer.get(name, "").strip()
    }
    email = customer.get("email", "")
    if "email" not in errors and not EMAIL_RE.fullmatch(email):
        errors["email"] = [INVALID_EMAIL]
    phone = customer.get("phone", "")
    if phone and not E164_RE.fullmatch(phone):
        errors["phone"] = [INVALID_PHONE]
    country_code = customer.get("country_code", "")
    if "country_code" not in errors and country_code not in ALLOWED_COUNTRIES:
        errors["country_code"] = [unsupported_country(country_code)]
    return errors


def split_body(body: Mapping[str, Any], fields: tuple[str, ...]) -> tuple[Record, Errors]:
    """Separate a request body into the writable string values and per-field errors.

    Server-assigned fields are dropped silently so clients may send back a record they
    fetched earlier.
    """
    values: Record = {}
    errors: Errors = {}
    for name, value in body.items():
        if name in SERVER_FIELDS:
            continue
        if name not in fields:
            errors[name] = [UNKNOWN_FIELD]
        elif not isinstance(value, str):
            errors[name] = [NOT_A_STRING]
        else:
            values[name] = value
    return values, errors


def email_key(email: str) -> str:
    return email.strip().lower()


# --- seeding ------------------------------------------------------------------------------


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


class _Seeder:
    """Generates people from a fixed seed; every random choice goes through self.rng or
    a Faker seeded from the same seed, so the same seed yields the same world."""

    def __init__(self, seed: int, anchor: datetime) -> None:
        self.seed = seed
        self.anchor = anchor
        self.rng = random.Random(seed)
        self._fakers: dict[str, Faker] = {}
        self._emails: set[str] = set()

    def _faker(self, country: str) -> Faker:
        if country not in self._fakers:
            faker = Faker(_LOCALES[country])
            faker.seed_instance(f"{self.seed}-{country}")
            self._fakers[country] = faker
        return self._fakers[country]

    def country(self) -> str:
        return self.rng.choice(ALLOWED_COUNTRIES)

    def person(self, country: str) -> Record:
        faker = self._faker(country)
        first_name, last_name, company = faker.first_name(), faker.last_name(), faker.company()
        return {
            "first_name": first_name,
            "last_name": last_name,
            "email": self._unique_email(first_name, last_name, company),
            "phone": self.phone(country),
            "company": company,
        }

    def phone(self, country: str) -> str:
        # Varying only the last digits of the library's example mobile number keeps every
        # number valid for phonenumbers too, in case the console checks more than E.164.
        example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
        national = str(example.national_number)
        digits = "".join(str(self.rng.randrange(10)) for _ in range(4))
        return f"+{example.country_code}{national[:-4]}{digits}"

    def _unique_email(self, first_name: str, last_name: str, company: str) -> str:
        return self._unique_email_of_slugs(_slug(first_name), _slug(last_name), _slug(company))

    def _unique_email_of_slugs(self, first_name: str, last_name: str, company: str) -> str:
        local = ".".join(filter(None, (first_name, last_name))) or "contact"
        domain = f"{company or 'mail'}.example"
        email, suffix = f"{local}@{domain}", 1
        while email in self._emails:
            suffix += 1
            email = f"{local}{suffix}@{domain}"
        self._emails.add(email)
        return email

    def moment_before_anchor(self, within: timedelta) -> datetime:
        return self.anchor - timedelta(seconds=self.rng.randrange(1, int(within.total_seconds())))

    def recombined_contacts(self, numbers: range) -> Iterator[Record]:
        """Contacts of these numbers, recombined from pools of Faker's names and companies
        (FAKER_CONTACTS says why). Shaped as seed_contacts shapes its own, with the slugs,
        phone prefixes and country names worked out once rather than for every contact."""
        random = self.rng.random
        pools = {country: _Pool.drawn(self._faker(country)) for country in ALLOWED_COUNTRIES}
        countries = [(pools[code], _phone_prefix(code), _country_name(code)) for code in pools]
        # Whole seconds before the anchor as format_timestamp writes them, with each day's date
        # and each time of day formatted once: strftime for every contact would take longer
        # than all the rest.
        anchor_second = (parse_timestamp(format_timestamp(self.anchor)) - _EPOCH) // _SECOND
        history = int(_CONTACT_HISTORY.total_seconds())
        days: dict[int, str] = {}
        times = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(86400)]
        for number in numbers:
            pool, phone_prefix, country = countries[int(random() * len(countries))]
            first_name, first_slug = pool.first_names[int(random() * len(pool.first_names))]
            last_name, last_slug = pool.last_names[int(random() * len(pool.last_names))]
            company, company_slug = pool.companies[int(random() * len(pool.companies))]
            day, second = divmod(anchor_second - 1 - int(random() * (history - 1)), 86400)
            if day not in days:
                days[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
            yield {
                "id": f"C-{number:04d}",
                "first_name": first_name,
                "last_name": last_name,
                "email": self._unique_email_of_slugs(first_slug, last_slug, company_slug),
                "phone": f"{phone_prefix}{int(random() * 10_000):04d}",
                "country": country,
                "company": company,
                "updated_at": days[day] + times[second],
            }


@dataclass(frozen=True)
class _Pool:
    """One country's names and companies, each with its slug, for recombined contacts."""

    first_names: tuple[tuple[str, str], ...]
    last_names: tuple[tuple[str, str], ...]
    companies: tuple[tuple[str, str], ...]

    @classmethod
    def drawn(cls, faker: Faker) -> _Pool:
        def pool(draw: Callable[[], str]) -> tuple[tuple[str, str], ...]:
            names = dict.fromkeys(draw() for _ in range(POOL_SIZE))
            return tuple((name, _slug(name)) for name in names)

        return cls(pool(faker.first_name), pool(faker.last_name), pool(faker.company))


def _phone_prefix(country: str) -> str:
    """_Seeder.phone's numbers of country without their last four digits."""
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    return f"+{example.country_code}{str(example.national_number)[:-4]}"


def _country_name(code: str) -> str:
    return pycountry.countries.get(alpha_2=code).name


def seed_customers(seeder: _Seeder) -> list[Record]:
    customers = []
    for number in range(10001, 10001 + SEEDED_CUSTOMERS):
        country = seeder.country()
        person = seeder.person(country)
        created = seeder.moment_before_anchor(timedelta(days=120))
        updated = created + (seeder.anchor - created) * seeder.rng.random()
        customers.append(
            {
                "id": f"E-{number}",
                "given_name": person["first_name"],
                "family_name": person["last_name"],
                "email": person["email"],
                "phone": person["phone"],
                "country_code": country,
                "company": person["company"],
                "crm_ref": "",
                "created_at": format_timestamp(created),
                "updated_at": format_timestamp(updated),
            }
        )
    # Shapes for SEEDED_DUPLICATES: a customer known by a formal given name that has a
    # nickname, and one whose phone was typed in, formatted, before the ERP checked phones.
    customers[3].update(given_name="Robert", email=customers[3]["email"].replace("luis", "robert"))
    customers[4]["phone"] = "+49 151 23452654"
    return customers


def seed_contacts(seeder: _Seeder, count: int, customers: list[Record]) -> list[Record]:
    contacts = []
    for number in range(1, min(count, FAKER_CONTACTS) + 1):
        country = seeder.country()
        values = seeder.person(country) | {"country": _country_name(country)}
        contacts.append(
            {
                "id": f"C-{number:04d}",
                **{name: values[name] for name in CONTACT_FIELDS},
                "updated_at": format_timestamp(seeder.moment_before_anchor(_CONTACT_HISTORY)),
            }
        )
    if count > FAKER_CONTACTS:
        contacts += seeder.recombined_contacts(range(FAKER_CONTACTS + 1, count + 1))
    for contact_id, spoil in _spoilers(seeder, {c["id"]: c for c in customers}).items():
        # Contact C-n is the n-th.
        number = int(contact_id.removeprefix("C-"))
        if number <= len(contacts):
            spoil(contacts[number - 1])
    return contacts


def _spoilers(seeder: _Seeder, customers: dict[str, Record]) -> dict[str, Callable[[Record], None]]:
    """How each SEEDED_PROBLEMS, SEEDED_MESS and SEEDED_DUPLICATES entry is applied to its
    contact."""
    duplicated = customers[DUPLICATED_CUSTOMER]
    local, _, domain = duplicated["email"].partition("@")

    def person_of(customer_id: str, **changes: str) -> Callable[[Record], None]:
        customer = customers[customer_id]

        def spoil(contact: Record) -> None:
            contact.update(
                first_name=customer["given_name"],
                last_name=customer["family_name"],
                email=customer["email"],
                phone=customer["phone"],
                company=customer["company"],
                country=_country_name(customer["country_code"]),
            )
            contact.update(changes)

        return spoil

    def retyped(email: str) -> str:
        name, _, at = email.partition("@")
        return f"{name[:-3]}{name[-2]}{name[-3]}{name[-1]}@{at}"

    def brazilian(contact: Record) -> None:
        contact.update(country="Brazil", phone=seeder.phone("BR"))

    def same_person_as_duplicated(contact: Record) -> None:
        contact.update(
            first_name=duplicated["given_name"],
            last_name=duplicated["family_name"],
            email=f"{local.title()}@{domain}",
            phone=duplicated["phone"],
            company=duplicated["company"],
            country=_country_name(duplicated["country_code"]),
        )

    return {
        "C-0003": lambda c: c.update(email=f"  {c['email'].title()} "),
        "C-0005": lambda c: c.update(first_name=f"  {c['first_name']} "),
        "C-0007": lambda c: c.update(email=""),
        "C-0011": lambda c: c.update(last_name=f"{c['last_name']}  "),
        "C-0013": brazilian,
        "C-0021": lambda c: c.update(phone="12-34 call me"),
        "C-0029": same_person_as_duplicated,
        "C-0031": person_of("E-10001", email=retyped(customers["E-10001"]["email"])),
        "C-0033": person_of(
            "E-10003",
            first_name=customers["E-10003"]["family_name"],
            last_name=customers["E-10003"]["given_name"],
            email=customers["E-10003"]["email"].replace("-", "", 1),
        ),
        "C-0035": person_of(
            "E-10005",
            phone=customers["E-10005"]["phone"].replace(" ", ""),
            email="w.roerricht@example.de",
        ),
        "C-0037": person_of(
            "E-10004",
            first_name="Bob",
            email=customers["E-10004"]["email"].replace("robert", "bob"),
        ),
    }


def start_of_today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


# --- the world ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What a write answers: an HTTP status and its JSON body."""

    status: int
    body: dict[str, Any]


NOT_FOUND = Answer(HTTPStatus.NOT_FOUND, {"detail": "Not found"})


@dataclass(frozen=True)
class Fault:
    status: int
    count: int
    retry_after: int | None = None
    # The request is carried out, then answered with the fault: an answer lost on the way.
    after_write: bool = False


@dataclass(frozen=True)
class _Schema:
    fields: tuple[str, ...]
    id_prefix: str
    id_digits: int
    validate: Callable[[Mapping[str, str]], Errors]
    has_created_at: bool
    unique_email: bool


_SCHEMAS: dict[System, _Schema] = {
    "crm": _Schema(CONTACT_FIELDS, "C-", 4, validate_contact, False, False),
    "erp": _Schema(CUSTOMER_FIELDS, "E-", 5, validate_customer, True, True),
}


# A record's place in list order: (updated_at in whole seconds since 1970, then its id as
# _id_order sorts it). Every stored updated_at is whole seconds, as format_timestamp writes it.
_Key = tuple[int, int, str]
# A block of _Order holds from 1 to 2 * _BLOCK keys.
_BLOCK = 1_000


def _id_order(record_id: str) -> tuple[int, str]:
    # Ids outgrow their zero padding (C-9999 then C-10000), so shorter ids sort first.
    return len(record_id), record_id


def _key(record: Record) -> _Key:
    seconds = (parse_timestamp(record["updated_at"]) - _EPOCH) // _SECOND
    return seconds, *_id_order(record["id"])


def _first_listed(order: _Order, updated_since: datetime | None, after_id: str | None) -> int:
    """Where in order the records list_records keeps for these parameters begin: they are the
    ones from there to the end."""
    if updated_since is None:
        return 0
    seconds, fraction = divmod(updated_since - _EPOCH, _SECOND)
    if after_id is None or fraction:
        # At or after since (or, with after_id, after a since between two whole seconds) is,
        # for records of whole seconds, at or after since's next whole second.
        return order.bisect_left((seconds + bool(fraction),))
    return order.bisect_right((seconds, *_id_order(after_id)))


class _Order:
    """The keys of a collection's records, sorted, in blocks of at most 2 * _BLOCK.

    A write moves a record's key (updated_at becomes now), and in one sorted list of a
    million that shifts up to a million references; in blocks it shifts at most one block's.
    Positions come from running totals of the block lengths, summed again after a write.
    """

    def __init__(self, blocks: list[list[_Key]]) -> None:
        self._blocks = blocks
        self._maxes = [block[-1] for block in blocks]
        self._len = sum(map(len, blocks))
        self._starts: list[int] | None = None

    @classmethod
    def of(cls, keys: list[_Key]) -> _Order:
        """keys, sorted already."""
        return cls([keys[start : start + _BLOCK] for start in range(0, len(keys), _BLOCK)])

    def copy(self) -> _Order:
        return _Order([list(block) for block in self._blocks])

    def __len__(self) -> int:
        return self._len

    def add(self, key: _Key) -> None:
        if not self._blocks:
            self._blocks.append([key])
            self._maxes.append(key)
        else:
            index = min(bisect_left(self._maxes, key), len(self._blocks) - 1)
            block = self._blocks[index]
            insort(block, key)
            self._maxes[index] = block[-1]
            if len(block) > 2 * _BLOCK:
                self._blocks[index : index + 1] = [block[:_BLOCK], block[_BLOCK:]]
                self._maxes[index : index + 1] = [block[_BLOCK - 1], block[-1]]
        self._len += 1
        self._starts = None

    def remove(self, key: _Key) -> None:
        index = bisect_left(self._maxes, key)
        block = self._blocks[index]
        del block[bisect_left(block, key)]
        if block:
            self._maxes[index] = block[-1]
        else:
            del self._blocks[index], self._maxes[index]
        self._len -= 1
        self._starts = None

    def bisect_left(self, probe: tuple[Any, ...]) -> int:
        """How many keys sort before probe."""
        index = bisect_left(self._maxes, probe)
        if index == len(self._blocks):
            return self._len
        return self._block_starts()[index] + bisect_left(self._blocks[index], probe)

    def bisect_right(self, probe: tuple[Any, ...]) -> int:
        """How many keys sort before probe or equal it."""
        index = bisect_right(self._maxes, probe)
        if index == len(self._blocks):
            return self._len
        return self._block_starts()[index] + bisect_right(self._blocks[index], probe)

    def between(self, start: int, stop: int) -> list[_Key]:
        """The keys at positions start to stop, stop excluded (0 <= start, stop <= len)."""
        starts = self._block_starts()
        keys: list[_Key] = []
        index = bisect_right(starts, start) - 1
        while start < stop:
            offset = start - starts[index]
            taken = self._blocks[index][offset : offset + stop - start]
            keys += taken
            start += len(taken)
            index += 1
        return keys

    def _block_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0, *accumulate(map(len, self._blocks))]
        return self._starts


@dataclass
class _Collection:
    """One system's records, with their list order and their owners of each email kept in
    step by store().

    Records are never changed in place, only replaced: until then a reset collection shares
    them with the seeded one it was copied from (World.reset), so that a world of a million
    contacts holds one copy of them, not two.
    """

    schema: _Schema
    # In insertion order, which is id order: seeded ones first, then new_id's, which grow.
    records: dict[str, Record]
    order: _Order
    # email_key -> the id of the one record with that email, or the ids of several. Plain
    # strings and tuples, never changed in place, so that copy() may share them.
    emails: dict[str, str | tuple[str, ...]]
    next_number: int
    replies: dict[str, Answer] = field(default_factory=dict)  # by Idempotency-Key
    # The ids of the archived records and their keys in list order: out of `order` and of
    # `emails`, so that lists, keysets and look-ups by email skip them and their emails block
    # no other record. copy() copies both.
    archived: set[str] = field(default_factory=set)
    archived_order: _Order = field(default_factory=lambda: _Order([]))

    @classmethod
    def seeded(cls, system: System, records: list[Record], first_number: int) -> _Collection:
        collection = cls(
            _SCHEMAS[system],
            {record["id"]: record for record in records},
            _Order.of(sorted(map(_key, records))),
            {},
            first_number + len(records),
        )
        for record in records:
            collection._add_email(record)
        return collection

    def copy(self) -> _Collection:
        """A collection to write to, sharing the records (and the email's ids) until replaced."""
        return replace(
            self,
            records=dict(self.records),
            order=self.order.copy(),
            emails=dict(self.emails),
            replies={},
            archived=set(self.archived),
            archived_order=self.archived_order.copy(),
        )

    def new_id(self) -> str:
        record_id = f"{self.schema.id_prefix}{self.next_number:0{self.schema.id_digits}d}"
        self.next_number += 1
        return record_id

    def store(self, record: Record) -> None:
        """Add record, or replace the one of its id, keeping the order and emails in step; an
        archived record stays archived (in the archived order, and in no email index)."""
        old = self.records.get(record["id"])
        archived = record["id"] in self.archived
        same_email = old is not None and email_key(old["email"]) == email_key(record["email"])
        reindex = not archived and not same_email
        order = self.archived_order if archived else self.order
        if old is not None:
            order.remove(_key(old))
            if reindex:
                self._remove_email(old)
        self.records[record["id"]] = record
        order.add(_key(record))
        if reindex:
            self._add_email(record)

    def archive(self, record_id: str, updated_at: str) -> Record | None:
        """Archive the record, stamped updated_at, and return it; an archived one is returned
        as it is, unchanged. None when there is no such record."""
        record = self.records.get(record_id)
        if record is None or record_id in self.archived:
            return record
        self.order.remove(_key(record))
        self._remove_email(record)
        record = record | {"updated_at": updated_at}
        self.records[record_id] = record
        self.archived.add(record_id)
        self.archived_order.add(_key(record))
        return record

    def restore(self, record_id: str, updated_at: str) -> Answer:
        """Make an archived record active again, stamped updated_at: 200 with it; an active
        one is answered as it is, unchanged. 404 when there is no such record; 409 when an
        active record of a system with unique emails holds its email now (it stays archived)."""
        record = self.records.get(record_id)
        if record is None:
            return NOT_FOUND
        if record_id in self.archived:
            if conflict := self.duplicate(record["email"], record_id):
                return conflict
            self.archived_order.remove(_key(record))
            self.archived.discard(record_id)
            record = record | {"updated_at": updated_at}
            self.records[record_id] = record
            self.order.add(_key(record))
            self._add_email(record)
        return Answer(HTTPStatus.OK, self.shown(record))

    def delete(self, record_id: str) -> bool:
        """Remove the record for good, archived or not; False when there is no such record."""
        record = self.records.pop(record_id, None)
        if record is None:
            return False
        if record_id in self.archived:
            self.archived.discard(record_id)
            self.archived_order.remove(_key(record))
        else:
            self.order.remove(_key(record))
            self._remove_email(record)
        return True

    def shown(self, record: Record) -> dict[str, Any]:
        """A copy of record as answers show it: marked ``"archived": true`` while archived."""
        if record["id"] in self.archived:
            return {**record, ARCHIVED: True}
        return dict(record)

    def archived_with_email(self, email: str) -> list[Record]:
        """The archived records whose email is email, ignoring case and surrounding spaces;
        takes time for the archived records, which are few."""
        key = email_key(email)
        found = (self.records[record_id] for record_id in self.archived)
        return [record for record in found if email_key(record["email"]) == key]

    def with_email(self, email: str) -> list[Record]:
        """The records whose email is email, ignoring case and surrounding spaces."""
        return [self.records[record_id] for record_id in self._owners(email_key(email))]

    def email_owner(self, email: str, other_than: str | None) -> str | None:
        # The first in insertion order, as a scan of the records would find; that is id order.
        owners = (owner for owner in self._owners(email_key(email)) if owner != other_than)
        return min(owners, key=_id_order, default=None)

    def _owners(self, key: str) -> tuple[str, ...]:
        owners = self.emails.get(key, ())
        return (owners,) if isinstance(owners, str) else owners

    def _add_email(self, record: Record) -> None:
        email = record["email"]
        key = email_key(email)
        # A million seeded emails are keys already: share the string rather than a copy.
        key = email if key == email else key
        owners = self._owners(key)
        self.emails[key] = (*owners, record["id"]) if owners else record["id"]

    def _remove_email(self, record: Record) -> None:
        key = email_key(record["email"])
        owners = tuple(owner for owner in self._owners(key) if owner != record["id"])
        if not owners:
            del self.emails[key]
        else:
            self.emails[key] = owners[0] if len(owners) == 1 else owners

    def refusal(
        self, candidate: Record, body_errors: Errors, record_id: str | None
    ) -> Answer | None:
        """Why candidate may not be stored (422 or 409), or None when it may."""
        # A field with a type error keeps its old value in candidate; report only the type.
        errors = self.schema.validate(candidate) | body_errors
        if errors:
            return Answer(HTTPStatus.UNPROCESSABLE_ENTITY, {"errors": errors})
        return self.duplicate(candidate["email"], record_id)

    def duplicate(self, email: str, record_id: str | None) -> Answer | None:
        """The 409 of a system with unique emails when an active record other than record_id
        holds email, else None."""
        if not self.schema.unique_email:
            return None
        owner = self.email_owner(email, other_than=record_id)
        if owner is None:
            return None
        return Answer(
            HTTPStatus.CONFLICT, {"errors": {"email": [DUPLICATE_EMAIL]}, "existing_id": owner}
        )


# --- credentials and tokens of the styled APIs (styles.py) -----------------------------------


TokenKind = Literal["bearer", "session"]


@dataclass(frozen=True)
class Credentials:
    """What the styled APIs accept, and how long the tokens they issue last.

    The defaults are the simulator's own test values, public on purpose: the simulator guards
    nothing. A process takes others from SIMULATOR_AUTH (run_simulator), a running one from
    POST /_control/auth; /_control/reset goes back to the ones the process started with.
    """

    api_key: str = "sim-api-key"
    user: str = "sim-user"
    password: str = "sim-password"
    client_id: str = "sim-client"
    client_secret: str = "sim-client-secret"
    token_ttl_seconds: float | None = 3600
    token_ttl_requests: int | None = None

    def changed(self, changes: Mapping[str, Any]) -> Credentials:
        """These credentials with changes applied; ValueError names the first bad setting."""
        known = [setting.name for setting in fields(self)]
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"Unknown setting {name!r}; known: {', '.join(known)}.")
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if name == "token_ttl_seconds" and not (value is None or (number and value > 0)):
                raise ValueError("token_ttl_seconds must be a positive number or null.")
            if name == "token_ttl_requests" and not (
                value is None or (number and isinstance(value, int) and value >= 1)
            ):
                raise ValueError("token_ttl_requests must be an integer of at least 1 or null.")
            if not name.startswith("token_ttl_") and not (isinstance(value, str) and value):
                raise ValueError(f"{name} must be a non-empty string.")
        return replace(self, **changes)


@dataclass
class _Issued:
    kind: TokenKind
    expires_at: datetime | None
    uses_left: int | None


class Access:
    """The styled APIs' credentials and the tokens issued against them; atomic methods."""

    def __init__(self, credentials: Credentials, clock: Callable[[], datetime]) -> None:
        self._initial = credentials
        self._clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Back to the starting credentials, with no token issued."""
        with self._lock:
            self._credentials = self._initial
            self._tokens: dict[str, _Issued] = {}

    @property
    def credentials(self) -> Credentials:
        with self._lock:
            return self._credentials

    def configure(self, changes: Mapping[str, Any]) -> Credentials:
        """Change some credentials or token lifetimes; tokens issued earlier keep theirs."""
        with self._lock:
            self._credentials = self._credentials.changed(changes)
            return self._credentials

    def accepts(self, **offered: str) -> bool:
        """Whether every offered value equals the credential of that name."""
        credentials = self.credentials
        # Each compared in constant time, and all of them, so no answer tells which was wrong.
        matches = [
            hmac.compare_digest(value.encode(), str(getattr(credentials, name)).encode())
            for name, value in offered.items()
        ]
        return bool(matches) and all(matches)

    def issue(self, kind: TokenKind) -> str:
        with self._lock:
            ttl = self._credentials.token_ttl_seconds
            token = secrets.token_urlsafe(24)
            expires_at = self._clock() + timedelta(seconds=ttl) if ttl else None
            self._tokens[token] = _Issued(kind, expires_at, self._credentials.token_ttl_requests)
            return token

    def admit(self, kind: TokenKind, token: str) -> bool:
        """Whether token is a live token of this kind; counts one use of it."""
        with self._lock:
            issued = self._tokens.get(token)
            if issued is None or issued.kind != kind:
                return False
            spent = issued.uses_left is not None and issued.uses_left < 1
            if spent or (issued.expires_at is not None and self._clock() >= issued.expires_at):
                del self._tokens[token]
                return False
            if issued.uses_left is not None:
                issued.uses_left -= 1
            return True

    def expire_all(self) -> int:
        """Invalidate every token issued so far; how many there were."""
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
            return count


# New values for chaos's new_enum_value: (field, value) by system.
_NEW_ENUM_VALUES: dict[System, tuple[str, str]] = {
    "crm": ("country", "Atlantis"),
    "erp": ("country_code", "XA"),
}


def _listed(record: Record, updated_since: datetime | None, after_id: str | None) -> bool:
    """Whether list_records keeps record for these parameters."""
    if updated_since is None:
        return True
    moment = parse_timestamp(record["updated_at"])
    if after_id is None or moment != updated_since:
        return moment >= updated_since if after_id is None else moment > updated_since
    return _id_order(record["id"]) > _id_order(after_id)


class World:
    """Both simulated systems, resettable to the state the seed produced."""

    def __init__(
        self,
        seed: int = 42,
        contacts: int = 40,
        *,
        anchor: datetime | None = None,
        clock: Callable[[], datetime] = utc_now,
        credentials: Credentials | None = None,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.chaos = Chaos()
        self.access = Access(credentials or Credentials(), clock)
        # Seeded timestamps lie in the days before the anchor: start of today by default,
        # so that a demo shows recent changes and anything written now comes after them.
        seeder = _Seeder(seed, anchor or start_of_today())
        customers = seed_customers(seeder)
        # Kept to make reset() cheap: building the Faker instances takes a noticeable while,
        # and so does sorting a million records. Never written to: reset() copies them.
        self._seeded: dict[System, _Collection] = {
            "crm": _Collection.seeded("crm", seed_contacts(seeder, contacts, customers), 1),
            "erp": _Collection.seeded("erp", customers, 10001),
        }
        self.reset()

    def reset(self) -> None:
        """Back to the seeded records, with no faults or chaos armed, no latency, no requests
        counted, no tokens issued and the credentials the world started with."""
        self.chaos.reset()
        self.access.reset()
        with self._lock:
            self._collections: dict[System, _Collection] = {
                system: seeded.copy() for system, seeded in self._seeded.items()
            }
            self._faults: dict[System, Fault] = {}
            self._requests: dict[System, int] = dict.fromkeys(SYSTEMS, 0)
            self._latency: dict[System, float] = dict.fromkeys(SYSTEMS, 0.0)

    def list_records(
        self,
        system: System,
        *,
        updated_since: datetime | None = None,
        after_id: str | None = None,
        page: int = 1,
        page_size: int = 50,
        email: str | None = None,
        archived: bool = False,
    ) -> tuple[list[Record], int]:
        """One page of records ordered by (updated_at, id), and how many matched in all.

        With ``after_id`` the read is a keyset: it starts strictly after the record
        (updated_since, after_id) in that order, whatever was edited since. With ``email``
        only records of that email, ignoring case and surrounding spaces, match. Archived
        records are left out; with ``archived`` only they are read, marked as get_record
        marks them.

        Takes time for the page, not for the collection: the start comes from bisecting the
        collection's order, the count from where the start lies."""
        start = (page - 1) * page_size
        return self.list_window(
            system,
            start,
            start + page_size,
            updated_since=updated_since,
            after_id=after_id,
            email=email,
            archived=archived,
        )

    def list_window(
        self,
        system: System,
        start: int,
        stop: int,
        *,
        updated_since: datetime | None = None,
        after_id: str | None = None,
        email: str | None = None,
        archived: bool = False,
    ) -> tuple[list[Record], int]:
        """As list_records, with the records at positions start to stop of the matches (as a
        slice of their list takes them) instead of a page."""
        with self._lock:
            collection = self._collections[system]
            if email is None:
                order = collection.archived_order if archived else collection.order
                first = _first_listed(order, updated_since, after_id)
                window = range(first, len(order))[start:stop]
                keys = order.between(window.start, window.stop)
                page = [collection.records[record_id] for _, _, record_id in keys]
                return [collection.shown(record) for record in page], len(order) - first
            # Few records share an email: sort them here, after the filter list_records has.
            owners = (
                collection.archived_with_email(email) if archived else collection.with_email(email)
            )
            matching = [record for record in owners if _listed(record, updated_since, after_id)]
            matching.sort(key=_key)
            return [collection.shown(record) for record in matching[start:stop]], len(matching)

    def created_with_key(self, system: System, idempotency_key: str) -> Record | None:
        """The record a create with this Idempotency-Key made, if it made one."""
        with self._lock:
            collection = self._collections[system]
            reply = collection.replies.get(idempotency_key)
            if reply is None or reply.status != HTTPStatus.CREATED:
                return None
            record = collection.records.get(reply.body.get("id", ""))
            return collection.shown(record) if record else None

    def get_record(self, system: System, record_id: str) -> Record | None:
        """The record, archived ones too (marked ``"archived": true``); None when there is
        none."""
        with self._lock:
            collection = self._collections[system]
            record = collection.records.get(record_id)
            return collection.shown(record) if record else None

    def create_record(
        self, system: System, body: Mapping[str, Any], idempotency_key: str | None = None
    ) -> Answer:
        with self._lock:
            collection = self._collections[system]
            if idempotency_key and idempotency_key in collection.replies:
                return collection.replies[idempotency_key]
            outcome = self._create(collection, body)
            if idempotency_key:
                collection.replies[idempotency_key] = outcome
            return outcome

    def update_record(self, system: System, record_id: str, body: Mapping[str, Any]) -> Answer:
        with self._lock:
            collection = self._collections[system]
            stored = collection.records.get(record_id)
            if stored is None:
                return NOT_FOUND
            values, errors = split_body(body, collection.schema.fields)
            candidate = {name: stored[name] for name in collection.schema.fields} | values
            if refusal := collection.refusal(candidate, errors, record_id):
                return refusal
            record = stored | values | {"updated_at": format_timestamp(self._clock())}
            collection.store(record)
            return Answer(HTTPStatus.OK, collection.shown(record))

    def archive_record(self, system: System, record_id: str) -> Answer:
        """Archive a record: 200 with it, marked ``"archived": true`` and its updated_at moved
        to now; 404 when there is none. Archiving an archived record changes nothing and
        answers it as it is. From then on lists, keyset reads and look-ups by email leave it
        out, its email no longer counts as taken, and get_record still finds it."""
        with self._lock:
            collection = self._collections[system]
            record = collection.archive(record_id, format_timestamp(self._clock()))
            return Answer(HTTPStatus.OK, collection.shown(record)) if record else NOT_FOUND

    def restore_record(self, system: System, record_id: str) -> Answer:
        """Bring an archived record back: 200 with it, its updated_at moved to now (so that an
        incremental read meets it again); 404 when there is none (a deleted one included).
        Restoring an active record changes nothing and answers it as it is. In the ERP, 409
        as a create answers it when another customer has taken the record's email since: the
        record stays archived."""
        with self._lock:
            collection = self._collections[system]
            return collection.restore(record_id, format_timestamp(self._clock()))

    def delete_record(self, system: System, record_id: str) -> Answer:
        """Remove a record for good, archived or not: 204; 404 when there is none (deleted
        before, or never there). Its id is never given out again."""
        with self._lock:
            if self._collections[system].delete(record_id):
                return Answer(HTTPStatus.NO_CONTENT, {})
            return NOT_FOUND

    def inject_fault(self, system: System, fault: Fault) -> None:
        """Arm a fault for the next requests to system, replacing any fault still armed."""
        with self._lock:
            self._faults[system] = fault

    def take_fault(self, system: System) -> Fault | None:
        """The fault this request must answer with, if one is armed; uses it up once."""
        with self._lock:
            fault = self._faults.pop(system, None)
            if fault is None or fault.count < 1:
                return None
            if fault.count > 1:
                self._faults[system] = replace(fault, count=fault.count - 1)
            return fault

    def set_latency(self, system: System, seconds: float) -> None:
        """Make every later request to system take at least this long (0 for none)."""
        with self._lock:
            self._latency[system] = seconds

    def latency(self, system: System) -> float:
        """How long the server waits before it answers a request to system."""
        with self._lock:
            return self._latency[system]

    def arm_chaos(self, kind: str, options: Mapping[str, Any]) -> dict[str, Any]:
        """Arm or carry out one kind of chaos (chaos.py describes each); what it did.

        Raises ValueError naming the first bad option."""
        if kind == "expire_tokens":
            return {"expired": self.access.expire_all()}
        system = options.get("system")
        if system not in SYSTEMS:
            raise ValueError('system must be "crm" or "erp".')
        if kind == "new_enum_value":
            return self._store_new_enum_value(system, options)
        return self.chaos.arm(kind, system, options)

    def _store_new_enum_value(self, system: System, options: Mapping[str, Any]) -> dict[str, str]:
        default_field, default_value = _NEW_ENUM_VALUES[system]
        name = options.get("field", default_field)
        value = options.get("value", default_value)
        if not isinstance(value, str):
            raise ValueError("value must be a string.")
        with self._lock:
            collection = self._collections[system]
            if name not in collection.schema.fields:
                raise ValueError(f"field must be one of {', '.join(collection.schema.fields)}.")
            record_id = options.get("id") or min(collection.records, key=_id_order, default="")
            record = collection.records.get(record_id) if isinstance(record_id, str) else None
            if record is None:
                raise ValueError(f"No record {record_id!r} in the {system}.")
            # Straight into the record, past validation: the system has learnt a new value.
            collection.store(record | {name: value, "updated_at": format_timestamp(self._clock())})
        return {"system": system, "id": record_id, "field": name, "value": value}

    def count_request(self, system: System) -> None:
        with self._lock:
            self._requests[system] += 1

    def stats(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                "crm": {"contacts": len(self._collections["crm"].records)},
                "erp": {"customers": len(self._collections["erp"].records)},
                "requests": dict(self._requests),
            }

    def _create(self, collection: _Collection, body: Mapping[str, Any]) -> Answer:
        values, errors = split_body(body, collection.schema.fields)
        candidate = dict.fromkeys(collection.schema.fields, "") | values
        if refusal := collection.refusal(candidate, errors, None):
            return refusal
        now = format_timestamp(self._clock())
        created_at = {"created_at": now} if collection.schema.has_created_at else {}
        record = {"id": collection.new_id(), **candidate, **created_at, "updated_at": now}
        collection.store(record)
        return Answer(HTTPStatus.CREATED, dict(record))
