"""People with known duplicates, for matching benchmarks: seeded, so every run sees the same.

    from bench.people import people
    targets, incoming = people(10_000, 5_000, seed=1)

``targets`` are the records already in a target system: one per person, many of them in
households (two to four people sharing a family name, an address and often a phone).
``incoming`` are source records: about ``duplicate_share`` of them are the same person as one
target, made the ways records really differ (see ``SHAPES``); the rest are new people, some of
them new members of a target's household (same family name, address and phone; another given
name, e-mail and date of birth), which must not be linked to anyone.

Every ``Person`` knows who it really is (``identity``) and how it was made (``shape``); an
incoming duplicate's ``true_target`` is the id of the target record of the same person.

Payload fields: given_name, family_name, email, phone, country_code, company, postcode,
birth_date (YYYY-MM-DD). Faker (seeded) provides names, postcodes, companies and the shape of
phone numbers; the rest is drawn from value pools with ``random.Random(seed)``, so a million
targets take about two minutes (and 1.5 GB with the benchmark's index) on a two-core machine.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import phonenumbers
from faker import Faker

LOCALES = (
    ("en_US", "US", 0.40),
    ("en_GB", "GB", 0.20),
    ("de_DE", "DE", 0.25),
    ("fr_FR", "FR", 0.15),
)
FIELDS = (
    "given_name",
    "family_name",
    "email",
    "phone",
    "country_code",
    "company",
    "postcode",
    "birth_date",
)
# How a duplicate differs from the target record of the same person, and how often (relative
# weights): the shapes the matcher must handle, and a few that real data adds (a move, another
# phone, a name changed by marriage).
SHAPES = {
    "exact_copy": 1.0,
    "typo_name": 1.0,
    "typo_email": 1.0,
    "retyped_email": 1.0,
    "swapped_names": 1.0,
    "nickname": 1.0,
    "reformatted_phone": 1.0,
    "missing_fields": 1.0,
    "transposed_dob": 1.0,
    "moved": 0.5,
    "other_phone": 0.5,
    "married": 0.2,
}
# Shapes of incoming records that are nobody in the target: a new person; a new member of a
# target's household (same family name, address and phone), a few sharing its e-mail too; a
# namesake of a target (same given and family name), a third of them in the same postcode.
# A "junior" is a household member with the given name of a target (a son named after his
# father), born 20 to 35 years later.
NEW_SHAPES = ("fresh", "household", "household_shared_email", "namesake", "junior")

# Nicknames people really go by, written here rather than taken from the matcher's own table,
# so that the benchmark does not grade the matcher against itself.
NICKNAMES = {
    "robert": ("Bob", "Rob", "Bobby"),
    "william": ("Bill", "Will", "Billy"),
    "james": ("Jim", "Jimmy", "Jamie"),
    "john": ("Jack", "Johnny"),
    "michael": ("Mike", "Mikey"),
    "richard": ("Rick", "Rich", "Dick"),
    "thomas": ("Tom", "Tommy"),
    "christopher": ("Chris",),
    "daniel": ("Dan", "Danny"),
    "matthew": ("Matt",),
    "anthony": ("Tony",),
    "joseph": ("Joe", "Joey"),
    "charles": ("Charlie", "Chuck"),
    "david": ("Dave",),
    "steven": ("Steve",),
    "stephen": ("Steve",),
    "edward": ("Ed", "Eddie", "Ted"),
    "benjamin": ("Ben",),
    "nicholas": ("Nick",),
    "alexander": ("Alex",),
    "samuel": ("Sam",),
    "andrew": ("Andy", "Drew"),
    "jonathan": ("Jon",),
    "timothy": ("Tim",),
    "kenneth": ("Ken", "Kenny"),
    "ronald": ("Ron", "Ronnie"),
    "donald": ("Don",),
    "gregory": ("Greg",),
    "patrick": ("Pat",),
    "peter": ("Pete",),
    "jeffrey": ("Jeff",),
    "joshua": ("Josh",),
    "elizabeth": ("Liz", "Beth", "Betty"),
    "jennifer": ("Jen", "Jenny"),
    "margaret": ("Maggie", "Peggy", "Meg"),
    "katherine": ("Kate", "Kathy", "Katie"),
    "catherine": ("Cathy", "Kate"),
    "patricia": ("Pat", "Patty", "Trish"),
    "susan": ("Sue", "Susie"),
    "deborah": ("Deb", "Debbie"),
    "rebecca": ("Becky",),
    "jessica": ("Jess",),
    "victoria": ("Vicky", "Tori"),
    "samantha": ("Sam",),
    "christina": ("Tina", "Chris"),
    "christine": ("Chris",),
    "abigail": ("Abby",),
    "pamela": ("Pam",),
    "barbara": ("Barb",),
    "cynthia": ("Cindy",),
    "kimberly": ("Kim",),
    "melissa": ("Mel",),
    "amanda": ("Mandy",),
    "stephanie": ("Steph",),
    "johannes": ("Hans",),
    "friedrich": ("Fritz",),
}
_PHONE_FORMATS = (
    phonenumbers.PhoneNumberFormat.NATIONAL,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.E164,
)


# Which payload field plays which part in matching (integration_console.matching.spec).
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


@dataclass
class Person:
    """One generated record: its id, who it really is, how it was made, and its payload."""

    record_id: str
    identity: str
    shape: str
    payload: dict[str, Any]
    true_target: str | None = None
    household: str | None = None


@dataclass
class _Pools:
    """Values drawn once from a seeded Faker per locale, then sampled with ``random``."""

    given: list[str]
    family: list[str]
    postcodes: list[str]
    companies: list[str]
    domains: list[str]
    phone_prefixes: list[str]


@dataclass
class _World:
    rng: random.Random
    pools: dict[str, _Pools]
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    next_identity: int = 0
    next_household: int = 0

    def identity(self) -> str:
        self.next_identity += 1
        return f"P{self.next_identity:07d}"

    def household(self) -> str:
        self.next_household += 1
        return f"H{self.next_household:07d}"


def people(
    n_targets: int,
    n_incoming: int,
    seed: int = 1,
    *,
    duplicate_share: float = 0.4,
    household_share: float = 0.15,
    namesake_share: float = 0.05,
) -> tuple[list[Person], list[Person]]:
    """``n_targets`` target records and ``n_incoming`` source records, of which about
    ``duplicate_share`` are duplicates of a target; of the rest, about ``household_share`` are
    new members of a target's household and ``namesake_share`` namesakes of a target."""
    rng = random.Random(seed)
    world = _World(rng=rng, pools=_pools(seed, n_targets + n_incoming))
    targets = _targets(world, n_targets)
    incoming = _incoming(
        world, targets, n_incoming, duplicate_share, household_share, namesake_share
    )
    return targets, incoming


def _pools(seed: int, n_people: int) -> dict[str, _Pools]:
    pools = {}
    size = max(500, min(20_000, n_people // 20))
    for i, (locale, country, _) in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed * 100 + i)
        prefixes = []
        while len(prefixes) < 200:
            try:
                number = phonenumbers.parse(fake.phone_number(), country)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                prefixes.append(phonenumbers.format_number(number, _PHONE_FORMATS[2])[:-4])
        pools[country] = _Pools(
            given=[fake.first_name() for _ in range(3000)],
            family=[fake.last_name() for _ in range(3000)],
            postcodes=[fake.postcode() for _ in range(size)],
            companies=[fake.company() for _ in range(max(200, size // 5))],
            domains=[fake.free_email_domain() for _ in range(200)],
            phone_prefixes=prefixes,
        )
    return pools


def _country(rng: random.Random) -> str:
    pick = rng.random()
    for _, country, weight in LOCALES:
        pick -= weight
        if pick < 0:
            return country
    return LOCALES[-1][1]


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isascii() and c.isalnum())


def _new_email(world: _World, given: str, family: str, country: str) -> str:
    rng = world.rng
    g, f = _ascii(given) or "x", _ascii(family) or "y"
    local = rng.choice(
        (
            f"{g}.{f}",
            f"{g}{f}",
            f"{g[0]}{f}",
            f"{g}_{f}",
            f"{f}.{g}",
            f"{g}{rng.randint(1, 99)}",
            f"{g}.{f}{rng.randint(50, 99)}",
            f"{g[0]}.{f}",
        )
    )
    domain = rng.choice(world.pools[country].domains)
    address = f"{local}@{domain}"
    while address.replace(".", "").lower() in world.emails:
        address = f"{local}{rng.randint(1, 9999)}@{domain}"
    world.emails.add(address.replace(".", "").lower())
    return address


def _new_phone(world: _World, country: str) -> str:
    rng = world.rng
    while True:
        e164 = rng.choice(world.pools[country].phone_prefixes) + f"{rng.randint(0, 9999):04d}"
        if e164 not in world.phones:
            world.phones.add(e164)
            return _formatted(rng, e164)


def _formatted(rng: random.Random, e164: str, avoid: str | None = None) -> str:
    """``e164`` as people write it: national, international, E.164, national digits only, or
    national with dashes; never as ``avoid``."""
    if avoid is None:
        # The common case, kept cheap for a million targets: one way, formatted once.
        style = rng.randrange(5)
        if style == 2:
            return e164
        number = phonenumbers.parse(e164, None)
        if style == 1:
            return phonenumbers.format_number(number, _PHONE_FORMATS[1])
        national = phonenumbers.format_number(number, _PHONE_FORMATS[0])
        if style == 3:
            return "".join(c for c in national if c.isdigit())
        return national if style == 0 else national.replace(" ", "-")
    number = phonenumbers.parse(e164, None)
    options = [phonenumbers.format_number(number, f) for f in _PHONE_FORMATS]
    national = options[0]
    options.append("".join(c for c in national if c.isdigit()))
    options.append(national.replace(" ", "-"))
    choices = [o for o in dict.fromkeys(options) if o != avoid]
    return rng.choice(choices)


def _birth_date(rng: random.Random, around: date | None = None, spread: int = 0) -> str:
    if around is None:
        day = date(1935, 1, 1) + timedelta(days=rng.randint(0, 365 * 71))
    else:
        day = around + timedelta(days=rng.randint(-spread, spread))
    return day.isoformat()


def _new_person(
    world: _World,
    country: str,
    family: str | None = None,
    postcode: str | None = None,
    phone: str | None = None,
    avoid_given: set[str] | None = None,
    around: date | None = None,
) -> dict[str, Any]:
    rng, pools = world.rng, world.pools[country]
    given = rng.choice(pools.given)
    while avoid_given and given.lower() in avoid_given:
        given = rng.choice(pools.given)
    family = family or rng.choice(pools.family)
    return {
        "given_name": given,
        "family_name": family,
        "email": _new_email(world, given, family, country),
        "phone": phone or _new_phone(world, country),
        "country_code": country,
        "company": rng.choice(pools.companies) if rng.random() < 0.5 else None,
        "postcode": postcode or rng.choice(pools.postcodes),
        "birth_date": _birth_date(rng, around, 365 * 12) if around else _birth_date(rng),
    }


def _targets(world: _World, n: int) -> list[Person]:
    rng = world.rng
    targets: list[Person] = []
    while len(targets) < n:
        country = _country(rng)
        size = rng.choices((1, 2, 3, 4), weights=(55, 25, 12, 8))[0]
        household = world.household() if size > 1 else None
        first = _new_person(world, country)
        members = [first]
        shared_phone = rng.random() < 0.8
        for _ in range(size - 1):
            members.append(
                _new_person(
                    world,
                    country,
                    family=first["family_name"],
                    postcode=first["postcode"],
                    phone=first["phone"] if shared_phone else None,
                    avoid_given={m["given_name"].lower() for m in members},
                    around=date.fromisoformat(first["birth_date"]),
                )
            )
        for payload in members[: n - len(targets)]:
            _thin(rng, payload)
            targets.append(
                Person(
                    record_id=f"T{len(targets) + 1:07d}",
                    identity=world.identity(),
                    shape="target",
                    payload=payload,
                    household=household,
                )
            )
    return targets


def _thin(rng: random.Random, payload: dict[str, Any]) -> None:
    """Target systems have gaps too."""
    for name, chance in (
        ("email", 0.02),
        ("phone", 0.05),
        ("birth_date", 0.04),
        ("postcode", 0.02),
    ):
        if rng.random() < chance:
            payload[name] = rng.choice((None, ""))


def _incoming(
    world: _World,
    targets: list[Person],
    n: int,
    duplicate_share: float,
    household_share: float,
    namesake_share: float,
) -> list[Person]:
    rng = world.rng
    n_duplicates = min(round(n * duplicate_share), len(targets))
    n_household = round((n - n_duplicates) * household_share)
    records: list[Person] = []
    for target in rng.sample(targets, n_duplicates):
        payload, shape = _duplicate(world, target.payload)
        records.append(
            Person("", target.identity, shape, payload, target.record_id, target.household)
        )
    households = [t for t in targets if t.household is not None] or targets
    n_namesakes = round((n - n_duplicates) * namesake_share)
    for target in rng.sample(targets, min(n_namesakes, len(targets))):
        base = target.payload
        country = base["country_code"]
        payload = _new_person(world, country)
        payload["given_name"], payload["family_name"] = base["given_name"], base["family_name"]
        payload["email"] = _new_email(world, base["given_name"], base["family_name"], country)
        if base["postcode"] and rng.random() < 1 / 3:
            payload["postcode"] = base["postcode"]
        records.append(Person("", world.identity(), "namesake", payload))
    for _ in range(n_household):
        member = rng.choice(households)
        base = member.payload
        country = base["country_code"]
        payload = _new_person(
            world,
            country,
            family=base["family_name"],
            postcode=base["postcode"] or None,
            phone=base["phone"] or None,
            avoid_given={base["given_name"].lower()},
            around=date.fromisoformat(base["birth_date"]) if base["birth_date"] else None,
        )
        shape = "household"
        if base["email"] and rng.random() < 0.1:
            payload["email"] = base["email"]
            shape = "household_shared_email"
        elif rng.random() < 0.1:
            shape = "junior"
            payload["given_name"] = base["given_name"]
            payload["email"] = _new_email(world, base["given_name"], base["family_name"], country)
            if base["birth_date"]:
                born = date.fromisoformat(base["birth_date"])
                payload["birth_date"] = (
                    born + timedelta(days=rng.randint(20 * 365, 35 * 365))
                ).isoformat()
            if rng.random() < 0.5:
                payload["given_name"] += " Jr."
        records.append(Person("", world.identity(), shape, payload, None, member.household))
    while len(records) < n:
        payload = _new_person(world, _country(rng))
        _thin(rng, payload)
        records.append(Person("", world.identity(), "fresh", payload))
    rng.shuffle(records)
    for i, person in enumerate(records, 1):
        person.record_id = f"S{i:07d}"
    return records


def _duplicate(world: _World, original: dict[str, Any]) -> tuple[dict[str, Any], str]:
    rng = world.rng
    payload = dict(original)
    names, weights = list(SHAPES), list(SHAPES.values())
    shapes = rng.choices(names, weights)
    if shapes[0] != "exact_copy" and rng.random() < 0.3:
        second = rng.choices(names, weights)[0]
        if second not in shapes and second != "exact_copy":
            shapes.append(second)
    made = []
    for shape in shapes:
        made.append(_PERTURB[shape](world, payload))
    # People retype names in their own case.
    if rng.random() < 0.1:
        payload["family_name"] = str(payload["family_name"] or "").upper() or None
    return payload, "+".join(made)


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 3:
        return text + rng.choice("aeinrst")
    # Typos at the first letter are rarer than elsewhere.
    position = (
        rng.randint(0, len(text) - 1) if rng.random() < 0.1 else rng.randint(1, len(text) - 1)
    )
    letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
    kind = rng.choice(("substitute", "delete", "insert", "transpose"))
    if kind == "substitute":
        return text[:position] + letter + text[position + 1 :]
    if kind == "delete":
        return text[:position] + text[position + 1 :]
    if kind == "insert":
        return text[:position] + letter + text[position:]
    position = min(position, len(text) - 2)
    return text[:position] + text[position + 1] + text[position] + text[position + 2 :]


def _exact_copy(world: _World, payload: dict[str, Any]) -> str:
    return "exact_copy"


def _typo_name(world: _World, payload: dict[str, Any]) -> str:
    which = world.rng.choice(("given_name", "family_name"))
    payload[which] = _typo(world.rng, payload[which])
    return "typo_name"


def _typo_email(world: _World, payload: dict[str, Any]) -> str:
    if not payload["email"]:
        return _typo_name(world, payload)
    local, domain = payload["email"].split("@")
    if world.rng.random() < 0.8:
        local = _typo(world.rng, local)
    else:
        domain = _typo(world.rng, domain)
    payload["email"] = f"{local}@{domain}"
    return "typo_email"


def _retyped_email(world: _World, payload: dict[str, Any]) -> str:
    payload["email"] = _new_email(
        world, payload["given_name"], payload["family_name"], payload["country_code"]
    )
    return "retyped_email"


def _swapped_names(world: _World, payload: dict[str, Any]) -> str:
    payload["given_name"], payload["family_name"] = payload["family_name"], payload["given_name"]
    return "swapped_names"


def _nickname(world: _World, payload: dict[str, Any]) -> str:
    known = NICKNAMES.get(_ascii(payload["given_name"]))
    if not known:
        return _typo_name(world, payload)
    payload["given_name"] = world.rng.choice(known)
    return "nickname"


def _reformatted_phone(world: _World, payload: dict[str, Any]) -> str:
    if not payload["phone"]:
        return _missing_fields(world, payload)
    number = phonenumbers.parse(payload["phone"], payload["country_code"])
    e164 = phonenumbers.format_number(number, _PHONE_FORMATS[2])
    payload["phone"] = _formatted(world.rng, e164, avoid=payload["phone"])
    return "reformatted_phone"


def _missing_fields(world: _World, payload: dict[str, Any]) -> str:
    names = ("email", "phone", "birth_date", "postcode", "company")
    for name in world.rng.sample(names, world.rng.randint(1, 3)):
        payload[name] = world.rng.choice((None, ""))
    return "missing_fields"


def _transposed_dob(world: _World, payload: dict[str, Any]) -> str:
    if not payload["birth_date"]:
        return _typo_name(world, payload)
    year, month, day = payload["birth_date"].split("-")
    if int(day) <= 12 and day != month:
        payload["birth_date"] = f"{year}-{day}-{month}"
        return "transposed_dob"
    # Not transposable: a slip in the year's last digit instead.
    slipped = str((int(year[-1]) + world.rng.choice((1, 9))) % 10)
    payload["birth_date"] = f"{year[:3]}{slipped}-{month}-{day}"
    return "dob_typo"


def _moved(world: _World, payload: dict[str, Any]) -> str:
    payload["postcode"] = world.rng.choice(world.pools[payload["country_code"]].postcodes)
    if world.rng.random() < 0.5:
        payload["phone"] = _new_phone(world, payload["country_code"])
    return "moved"


def _other_phone(world: _World, payload: dict[str, Any]) -> str:
    payload["phone"] = _new_phone(world, payload["country_code"])
    return "other_phone"


def _married(world: _World, payload: dict[str, Any]) -> str:
    payload["family_name"] = world.rng.choice(world.pools[payload["country_code"]].family)
    if world.rng.random() < 0.5:
        return _retyped_email(world, payload) and "married"
    return "married"


_PERTURB: dict[str, Callable[[_World, dict[str, Any]], str]] = {
    "exact_copy": _exact_copy,
    "typo_name": _typo_name,
    "typo_email": _typo_email,
    "retyped_email": _retyped_email,
    "swapped_names": _swapped_names,
    "nickname": _nickname,
    "reformatted_phone": _reformatted_phone,
    "missing_fields": _missing_fields,
    "transposed_dob": _transposed_dob,
    "moved": _moved,
    "other_phone": _other_phone,
    "married": _married,
}
