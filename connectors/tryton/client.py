"""A connector for Tryton (8.x) over JSON-RPC.

Settings (a System's JSON): ``{"database": "ic", "user": "admin"}``, and optionally
``"language"`` (default ``"en"``: Tryton's messages, which the errors quote, come in it),
``"batch_size"`` (records per create call, default 100) and ``"resources": {"party.party":
{"fields": [...]}}``: the fields read for a resource, by their Tryton names, dotted through
relations (``"addresses.city"``). The password is the token. A resource is a Tryton model
name (``party.party``).

Records are plain dicts: ``id`` (a string), ``updated_at`` (when Tryton last wrote the record,
ISO 8601 UTC) and the fields read. A relation read through its fields comes back under its own
name: a to-many as a list of dicts (each with its ``id``), a many-to-one read through a single
field as that field's value, so ``addresses.country.code`` gives ``"country": "PT"``, the shape
a payload sends.

Payloads: plain fields as they are; a list of dicts on a to-many field becomes Tryton's
``create`` commands; a ``country`` given as an ISO code becomes Tryton's country id. An update
writes only what differs from what Tryton holds (Tryton refuses to write some fields once a
record exists, a party's code for one) and reconciles a list of dicts with the records Tryton
holds: by ``id`` when one is given, contact mechanisms by type and value, then by type, other
relations in Tryton's order; what the payload does not mention is left alone. On a party,
``email``, ``phone``, ``mobile``, ``fax`` and ``website`` are written through its contact
mechanisms (Tryton computes them from those and refuses to write them directly); an empty one
deletes the mechanisms of that type.

Tryton has no idempotency keys: a create repeated after a lost answer makes a second record
unless a unique field (a party's code) makes Tryton refuse it, which answers
AlreadyExistsError with the id of the record that holds the value.

Archive and restore write a record's ``active`` field (false, then true again): Tryton's
searches leave inactive records out, so iter_records and find skip an archived record, while
get still reads it. A party's records carry ``"active"`` (true, or false once archived; a
boolean whatever Tryton's database); on another model, list ``active`` among the resource's
fields to see it. Delete is Tryton's own, for good.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..base import Capabilities, Health, Position, Record
from ..errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConnectorError,
    NotFoundError,
    RejectedError,
)
from .rpc import TrytonRPC, Waits, from_tryton, iso_utc, to_tryton_datetime

PARTY = "party.party"
PARTY_CONTACT_FIELDS = ("email", "phone", "mobile", "fax", "website")
PHONE_TYPES = ("phone", "mobile", "fax")
DEFAULT_FIELDS: dict[str, list[str]] = {
    PARTY: [
        "name",
        "code",
        "active",
        "email",
        "phone",
        "contact_mechanisms.type",
        "contact_mechanisms.value",
        "addresses.street",
        "addresses.postal_code",
        "addresses.city",
        "addresses.country.code",
    ],
}
FALLBACK_FIELDS = ["rec_name"]
DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 1000
# Tryton 8's last_modified_at is COALESCE(write_date, create_date), searchable and sortable:
# a record never written since its create has no write_date.
KEYSET_ORDER = [["last_modified_at", "ASC"], ["id", "ASC"]]

_MODEL_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_PHONE_PUNCTUATION = re.compile(r"[\s\-.()/]")
_FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")
# "The value "fax2" for field "Type" in record "Bob" of "Party Contact Mechanism" is not ...",
# "A value is required for field "Name" in "Party".": the field's and the model's labels.
_FIELD_IN_MESSAGE = re.compile(
    r'field "(?P<field>[^"]+)" in (?:record "[^"]*" of )?"(?P<model>[^"]+)"'
)
# "The code on party must be unique."
_UNIQUE_FIELD = re.compile(r"^The (?P<label>.+?) (?:on|of|in) .+ must be unique", re.IGNORECASE)


class TrytonConnector:
    label = "Tryton (JSON-RPC)"
    # Shown in the admin beside a System's settings; the password is the token variable's.
    settings_example = {"database": "tryton", "user": "admin"}
    capabilities = Capabilities(
        batch_create=True,
        search_by_keys=True,
        idempotency_keys=False,
        keyset_order=True,
        archive=True,
        restore=True,
        delete=True,
    )

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        rate_limit_per_second: float | None = None,
        settings: dict | None = None,
        limiter: Waits | None = None,
    ) -> None:
        """``limiter``: one shared by the system's connectors; else ``rate_limit_per_second``
        is kept by this connector alone."""
        settings = settings or {}
        problems = self.settings_errors(settings)
        if problems:
            raise ConnectorError("Tryton settings: " + " ".join(problems))
        self.rpc = TrytonRPC(
            base_url,
            database=settings["database"],
            user=settings["user"],
            password=token,
            language=settings.get("language", "en"),
            timeout=timeout,
            rate_limit_per_second=rate_limit_per_second,
            limiter=limiter,
        )
        self.batch_size: int = settings.get("batch_size", DEFAULT_BATCH_SIZE)
        self._fields_by_resource = {
            model: list(options["fields"])
            for model, options in settings.get("resources", {}).items()
            if options.get("fields")
        }
        self._country_ids: dict[str, int] = {}
        self._fields_get: dict[str, dict[str, Any]] = {}
        self._model_names: dict[str, str | None] = {}

    @staticmethod
    def settings_errors(settings: dict[str, Any]) -> list[str]:
        """Why ``settings`` do not suit a Tryton System, as sentences; empty when they do."""
        if not isinstance(settings, dict):
            return ["Settings must be a JSON object."]
        errors = []
        database = settings.get("database")
        if not isinstance(database, str) or not database.strip() or "/" in database:
            errors.append('"database" must name the Tryton database, e.g. "tryton".')
        user = settings.get("user")
        if not isinstance(user, str) or not user.strip():
            errors.append('"user" must name the Tryton user to log in as, e.g. "admin".')
        language = settings.get("language", "en")
        if not isinstance(language, str) or not language.strip():
            errors.append('"language" must be a Tryton language code, e.g. "en".')
        batch_size = settings.get("batch_size", DEFAULT_BATCH_SIZE)
        if (
            not isinstance(batch_size, int)
            or isinstance(batch_size, bool)
            or not 1 <= batch_size <= MAX_BATCH_SIZE
        ):
            errors.append(f'"batch_size" must be a whole number from 1 to {MAX_BATCH_SIZE}.')
        resources = settings.get("resources", {})
        if not isinstance(resources, dict):
            errors.append('"resources" must map Tryton model names to their options.')
            resources = {}
        for model, options in resources.items():
            if not _MODEL_NAME.match(str(model)):
                errors.append(f'"resources": {model!r} is not a Tryton model name.')
            if not isinstance(options, dict):
                errors.append(f'"resources": {model!r} must map to an object of options.')
                continue
            fields = options.get("fields", [])
            if not isinstance(fields, list) or not all(
                isinstance(name, str) and _FIELD_NAME.match(name) for name in fields
            ):
                errors.append(
                    f'"resources": the "fields" of {model!r} must be a list of Tryton field '
                    'names, dotted through relations ("addresses.city").'
                )
        return errors

    # Reading

    def iter_records(
        self, resource: str, *, after: Position | None = None, page_size: int = 50
    ) -> Iterator[Record]:
        """The records of ``resource`` after ``after``, in (last_modified_at, id) order, one
        ``search_read`` page at a time; each page resumes strictly after the last record of
        the one before (a keyset), so a record written meanwhile moves behind the reader."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1.")
        method = self._method(resource, "search_read")
        fields = self._fields_read(resource)
        keyset = None if after is None else self._keyset(after)
        while True:
            domain: list[Any] = []
            if keyset is not None:
                moment, record_id = keyset
                domain = [
                    "OR",
                    [["last_modified_at", ">", moment]],
                    [["last_modified_at", "=", moment], ["id", ">", record_id]],
                ]
            rows = self._rows(method, domain, 0, page_size, KEYSET_ORDER, fields, {})
            for row in rows:
                yield self._record(row)
            if len(rows) < page_size:
                return
            last = rows[-1]
            if not isinstance(last.get("last_modified_at"), dict):
                raise ConnectorError(
                    f"Tryton {method}: a record without last_modified_at: cannot page past it.",
                    response_body=last,
                )
            keyset = (last["last_modified_at"], last["id"])

    def get(self, resource: str, record_id: str) -> Record:
        """The record as :meth:`iter_records` gives it; NotFoundError when Tryton has none."""
        rows = self._rows(
            self._method(resource, "read"),
            [_record_id(record_id)],
            self._fields_read(resource),
            {},
        )
        if not rows:
            raise NotFoundError(f"Tryton read no {resource} {record_id}.", response_body=rows)
        return self._record(rows[0])

    def find(self, resource: str, keys: dict[str, Any]) -> list[Record]:
        """The records whose fields equal ``keys``, by id; none when ``keys`` is empty. On a
        party, ``email``, ``phone``... are looked up among its contact mechanisms; a
        ``country`` given as a string by its code."""
        if not keys:
            return []
        domain = [self._equality(resource, name, value) for name, value in keys.items()]
        rows = self._rows(
            self._method(resource, "search_read"),
            domain,
            0,
            None,
            [["id", "ASC"]],
            self._fields_read(resource),
            {},
        )
        return [self._record(row) for row in rows]

    def find_created(self, resource: str, idempotency_key: str) -> Record | None:
        """Always None: Tryton keeps no idempotency keys (capability ``idempotency_keys``)."""
        return None

    # Writing

    def create(self, resource: str, payload: Record, *, idempotency_key: str) -> Record:
        """Create one record and return ``{"id": ...}``. The key is not sent: Tryton has no
        idempotency keys (see the module's docstring)."""
        answer = self.create_many(resource, [payload])[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def create_many(
        self, resource: str, payloads: list[Record], *, idempotency_keys: list[str] | None = None
    ) -> list[Record | Exception]:
        """Create the payloads in calls of ``batch_size``; one answer per payload, in order:
        ``{"id": ...}`` or the ConnectorError that refused it. Tryton creates a call's records
        in one transaction, all or none: a refused call is split in halves until each refused
        record stands alone, so that the others land. An error that is not a refusal (a
        timeout, a server error) answers for every payload of its call, unsplit: a timed-out
        call may have landed. The keys are not sent: Tryton has no idempotency keys."""
        answers: list[Record | Exception | None] = [None] * len(payloads)
        ready: list[tuple[int, dict[str, Any]]] = []
        try:
            method = self._method(resource, "create")
            self._learn_countries(payloads)
            for index, payload in enumerate(payloads):
                try:
                    ready.append((index, self._create_values(payload)))
                except RejectedError as exc:
                    answers[index] = exc
            for start in range(0, len(ready), self.batch_size):
                batch = ready[start : start + self.batch_size]
                self._create_batch(resource, method, batch, payloads, answers)
        except ConnectorError as exc:
            # Refused credentials (every later call would be refused the same way), a resource
            # that is no model name, or the country look-up failed: what was not answered yet
            # gets this error.
            answers = [exc if answer is None else answer for answer in answers]
        return [answer if answer is not None else _unanswered() for answer in answers]

    def update(self, resource: str, record_id: str, payload: Record) -> Record:
        """Write what in ``payload`` differs from what Tryton holds (see the module's
        docstring for lists of dicts and a party's contact fields); nothing when nothing
        differs. Returns ``{"id": ...}``."""
        rid = _record_id(record_id)
        wanted = {key: value for key, value in payload.items() if key != "id"}
        cleared: set[str] = set()
        if resource == PARTY:
            wanted, cleared = _contact_fields_as_mechanisms(wanted)
        self._learn_countries([wanted])
        method = self._method(resource, "read")
        rows = self._rows(method, [rid], _fields_to_compare(wanted), {})
        if not rows:
            raise NotFoundError(f"Tryton read no {resource} {record_id}.", response_body=rows)
        values = self._changes(rows[0], wanted, cleared)
        if values:
            try:
                self.rpc.call(self._method(resource, "write"), [rid], values, {})
            except RejectedError as exc:
                raise self._explained(resource, exc, wanted) from None
        return {"id": str(rid)}

    def archive(self, resource: str, record_id: str) -> Record:
        """Make the record inactive (``active`` false) and return it as get() reads it.
        Idempotent: an inactive record is not written again. NotFoundError when Tryton has no
        such record; RejectedError when the model has no ``active`` field."""
        return self._set_active(resource, record_id, False)

    def restore(self, resource: str, record_id: str) -> Record:
        """Make the record active again (``active`` true) and return it as get() reads it.
        Idempotent: an active record is not written again. NotFoundError when Tryton has no
        such record (a deleted one included)."""
        return self._set_active(resource, record_id, True)

    def delete(self, resource: str, record_id: str) -> None:
        """Delete the record for good. Idempotent: Tryton deletes an id it does not have
        without a word, and so does this for an id that cannot be Tryton's. A refusal of
        Tryton's (its rules may keep a record others depend on) raises as Tryton words it."""
        method = self._method(resource, "delete")
        try:
            rid = _record_id(record_id)
        except NotFoundError:
            return
        self.rpc.call(method, [rid], {})

    def health(self) -> Health:
        """Tryton's version, then a fresh login with the System's credentials."""
        try:
            version = self.rpc.server_version()
            user_id = self.rpc.login()
        except ConnectorError as exc:
            return Health(ok=False, detail=exc.message)
        return Health(
            ok=True,
            detail=f"Tryton {version}: logged in to {self.rpc.database!r} as "
            f"{self.rpc.user!r} (user {user_id}).",
        )

    def close(self) -> None:
        self.rpc.close()

    def _set_active(self, resource: str, record_id: str, active: bool) -> Record:
        rid = _record_id(record_id)
        # read() finds inactive records too: only searches leave them out.
        rows = self._rows(self._method(resource, "read"), [rid], ["active"], {})
        if not rows:
            raise NotFoundError(f"Tryton read no {resource} {record_id}.", response_body=rows)
        # On SQLite Tryton answers a boolean as 0 or 1.
        if bool(rows[0].get("active")) is not active:
            self.rpc.call(self._method(resource, "write"), [rid], {"active": active}, {})
        return self.get(resource, record_id)

    # Reading, the details

    def _rows(self, method: str, *params: Any) -> list[dict[str, Any]]:
        rows = self.rpc.call(method, *params)
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise ConnectorError(
                f"Tryton {method}: expected a list of records.", response_body=rows
            )
        return rows

    def _fields_read(self, resource: str) -> list[str]:
        fields = self._fields_by_resource.get(resource) or DEFAULT_FIELDS.get(
            resource, FALLBACK_FIELDS
        )
        return [*dict.fromkeys(fields), "last_modified_at"]

    @staticmethod
    def _keyset(after: Position) -> tuple[dict[str, Any], int]:
        try:
            return to_tryton_datetime(after.updated_at), int(after.record_id)
        except (TypeError, ValueError):
            raise ConnectorError(
                f"Cannot resume a Tryton read after {after!r}: it needs an ISO 8601 updated_at "
                "and a numeric id."
            ) from None

    @staticmethod
    def _record(row: dict[str, Any]) -> Record:
        record: Record = {}
        # A relation read through its fields ("addresses.") wins over its ids ("addresses").
        for key, value in sorted(row.items(), key=lambda item: item[0].endswith(".")):
            if key == "last_modified_at":
                continue
            if key.endswith("."):
                record[key[:-1]] = _related(value)
            else:
                record[key] = from_tryton(value)
        if isinstance(record.get("active"), int):
            record["active"] = bool(record["active"])  # 0 or 1 on SQLite
        record["id"] = str(row.get("id"))
        modified = row.get("last_modified_at")
        record["updated_at"] = iso_utc(modified) if isinstance(modified, dict) else None
        return record

    def _equality(self, resource: str, name: str, value: Any) -> list[Any]:
        if resource == PARTY and name in PARTY_CONTACT_FIELDS:
            # A party's email, phone... have no search function: look among its mechanisms,
            # where a phone number is also held in E.164 (value_compact).
            same = ["OR", ["value", "=", value], ["value_compact", "=", value]]
            return ["contact_mechanisms", "where", [["type", "=", name], same]]
        if name == "id":
            return ["id", "=", _record_id(value)]
        if (name == "country" or name.endswith(".country")) and isinstance(value, str):
            return [f"{name}.code", "=", value.strip().upper()]
        return [name, "=", value]

    # Writing, the details

    def _create_batch(
        self,
        resource: str,
        method: str,
        batch: list[tuple[int, dict[str, Any]]],
        payloads: list[Record],
        answers: list[Record | Exception | None],
    ) -> None:
        try:
            ids = self.rpc.call(method, [values for _, values in batch], {})
        except AuthenticationError:
            raise
        except RejectedError as exc:
            if len(batch) == 1:
                index = batch[0][0]
                answers[index] = self._explained(resource, exc, payloads[index])
                return
            half = len(batch) // 2
            self._create_batch(resource, method, batch[:half], payloads, answers)
            self._create_batch(resource, method, batch[half:], payloads, answers)
            return
        except ConnectorError as exc:
            for index, _ in batch:
                answers[index] = exc
            return
        if not isinstance(ids, list) or len(ids) != len(batch):
            error = ConnectorError(
                f"Tryton {method}: expected {len(batch)} ids.", response_body=ids
            )
            for index, _ in batch:
                answers[index] = error
            return
        for (index, _), new_id in zip(batch, ids, strict=True):
            answers[index] = {"id": str(new_id)}

    def _create_values(self, payload: Record, path: str = "") -> dict[str, Any]:
        """A payload as Tryton's create takes it: lists of dicts as create commands,
        countries as ids."""
        return {
            key: self._create_value(key, value, f"{path}{key}")
            for key, value in payload.items()
            if key != "id"
        }

    def _create_value(self, key: str, value: Any, path: str) -> Any:
        if _is_records(value):
            return [["create", [self._create_values(child, f"{path}.") for child in value]]]
        if key == "country" and isinstance(value, str):
            return self._country_id(value, path)
        return value

    def _changes(
        self, current: dict[str, Any], wanted: dict[str, Any], cleared: set[str]
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, value in wanted.items():
            if _is_records(value) or (key == "contact_mechanisms" and cleared):
                commands = self._reconcile(key, current.get(f"{key}.") or [], value, cleared)
                if commands:
                    values[key] = commands
                continue
            if value == []:
                continue  # an empty list adds nothing, and removes nothing
            translated = self._create_value(key, value, key)
            if key in current and current[key] == translated:
                continue
            values[key] = translated
        return values

    def _reconcile(
        self, key: str, existing: list[dict[str, Any]], desired: list[Record], cleared: set[str]
    ) -> list[list[Any]]:
        """Tryton's commands that make the records under ``key`` hold ``desired``: each
        desired dict writes the one it matches, or is created; unmatched ones are kept,
        except contact mechanisms of a ``cleared`` type, which are deleted."""
        unmatched = list(existing)
        pairs: list[tuple[Record, dict[str, Any] | None]] = []
        later: list[Record] = []
        for item in desired:  # first pass: by id, or a contact mechanism by type and value
            found = None
            if item.get("id") not in (None, ""):
                wanted_id = _record_id(item["id"])
                found = next((e for e in unmatched if e.get("id") == wanted_id), None)
                if found is None:
                    raise RejectedError(
                        f"The record has no {key} with id {item['id']}.",
                        field_errors={f"{key}.id": [f"No {key} {item['id']} on this record."]},
                    )
            elif key == "contact_mechanisms":
                found = next(
                    (
                        e
                        for e in unmatched
                        if e.get("type") == item.get("type") and _same_mechanism_value(e, item)
                    ),
                    None,
                )
            if found is None:
                later.append(item)
                continue
            unmatched.remove(found)
            pairs.append((item, found))
        for item in later:  # then a mechanism of the same type, or the next record in order
            if key == "contact_mechanisms":
                found = next((e for e in unmatched if e.get("type") == item.get("type")), None)
            else:
                found = unmatched[0] if unmatched else None
            if found is not None:
                unmatched.remove(found)
            pairs.append((item, found))
        commands: list[list[Any]] = []
        creates = []
        for item, found in pairs:
            fields = {name: value for name, value in item.items() if name != "id"}
            if found is None:
                creates.append(self._create_values(fields, f"{key}."))
                continue
            changes = {}
            for name, value in fields.items():
                translated = self._create_value(name, value, f"{key}.{name}")
                if found.get(name) == translated:
                    continue
                if key == "contact_mechanisms" and name == "value":
                    if _same_mechanism_value(found, {**found, "value": translated}):
                        continue
                changes[name] = translated
            if changes:
                commands.append(["write", [found["id"]], changes])
        if creates:
            commands.append(["create", creates])
        gone = [
            e["id"] for e in unmatched if key == "contact_mechanisms" and e.get("type") in cleared
        ]
        if gone:
            commands.append(["delete", gone])
        return commands

    # Countries

    def _learn_countries(self, payloads: list[Record]) -> None:
        """Look up in one call the countries the payloads name by code and Tryton has."""
        codes = {code for payload in payloads for code in _country_codes(payload)}
        unknown = sorted(codes - self._country_ids.keys())
        if not unknown:
            return
        rows = self._rows(
            "model.country.country.search_read",
            [["code", "in", unknown]],
            0,
            None,
            None,
            ["code"],
            {},
        )
        for row in rows:
            self._country_ids[str(row["code"]).upper()] = row["id"]

    def _country_id(self, code: str, path: str) -> int | None:
        """Tryton's id of the country with ISO ``code``; every write learns the countries of
        its payloads first, in one call (_learn_countries)."""
        code = code.strip().upper()
        if not code:
            return None
        if code not in self._country_ids:
            message = f"Tryton has no country with the code {code!r}."
            raise RejectedError(message, field_errors={path: [message]})
        return self._country_ids[code]

    # Errors

    def _explained(self, resource: str, exc: RejectedError, payload: Record) -> RejectedError:
        """``exc`` with the field it names, when Tryton's message names one this connector can
        place, and for a duplicate, the id of the record that holds the value."""
        try:
            if isinstance(exc, AlreadyExistsError):
                self._explain_duplicate(resource, exc, payload)
            elif not exc.field_errors:
                path = self._field_in_message(resource, exc.message, payload)
                if path:
                    exc.field_errors = {path: [exc.message]}
        except ConnectorError:
            pass  # the explanation is a courtesy: the refusal stands as Tryton gave it
        return exc

    def _explain_duplicate(self, resource: str, exc: AlreadyExistsError, payload: Record) -> None:
        match = _UNIQUE_FIELD.match(exc.message)
        if not match:
            return
        label = match["label"].strip().lower()
        labels = {
            str(definition.get("string", "")).lower(): name
            for name, definition in self._fields_of(resource).items()
        }
        name = labels.get(label) or label.replace(" ", "_")
        if name not in payload or isinstance(payload[name], (list, dict)):
            return
        exc.field_errors = {name: [exc.message]}
        found = self.find(resource, {name: payload[name]})
        if found:
            exc.existing_id = found[0]["id"]

    def _field_in_message(self, resource: str, message: str, payload: Record) -> str | None:
        """The payload's path of the field a Tryton message names, e.g. ``contact_mechanisms.
        type`` for '... for field "Type" in record ... of "Party Contact Mechanism" ...'."""
        match = _FIELD_IN_MESSAGE.search(message)
        if not match:
            return None
        model = self._model_named(match["model"])
        if model == resource:
            return self._field_labelled(resource, match["field"])
        for key, value in payload.items():
            relation = self._fields_of(resource).get(key, {}).get("relation")
            if _is_records(value) and relation and relation == model:
                name = self._field_labelled(relation, match["field"])
                return f"{key}.{name}" if name else None
        return None

    def _field_labelled(self, model: str, label: str) -> str | None:
        names = [n for n, d in self._fields_of(model).items() if d.get("string") == label]
        return names[0] if len(names) == 1 else None

    def _fields_of(self, model: str) -> dict[str, Any]:
        if model not in self._fields_get:
            found = self.rpc.call(self._method(model, "fields_get"), None, {})
            self._fields_get[model] = found if isinstance(found, dict) else {}
        return self._fields_get[model]

    def _model_named(self, label: str) -> str | None:
        """The model whose label Tryton's messages quote (ir.model: ``string`` is the label,
        ``name`` the model's name)."""
        if label not in self._model_names:
            rows = self._rows(
                "model.ir.model.search_read", [["string", "=", label]], 0, 2, None, ["name"], {}
            )
            self._model_names[label] = rows[0]["name"] if len(rows) == 1 else None
        return self._model_names[label]

    @staticmethod
    def _method(resource: str, name: str) -> str:
        if not _MODEL_NAME.match(resource):
            raise ConnectorError(f"{resource!r} is not a Tryton model name (e.g. party.party).")
        return f"model.{resource}.{name}"


def _record_id(value: Any) -> int:
    try:
        record_id = int(str(value))
    except ValueError:
        record_id = 0
    if record_id < 1:
        raise NotFoundError(f"{value!r} is not a Tryton record id.")
    return record_id


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _related(value: Any) -> Any:
    """A relation read through its fields: a to-many as a list of dicts; a many-to-one read
    through one field as that field's value."""
    if isinstance(value, list):
        return [_related_record(item) for item in value if isinstance(item, dict)]
    if isinstance(value, dict):
        record = _related_record(value)
        others = [key for key in record if key != "id"]
        return record[others[0]] if len(others) == 1 else record
    return value


def _related_record(row: dict[str, Any]) -> dict[str, Any]:
    record = {
        (key[:-1] if key.endswith(".") else key): (
            _related(value) if key.endswith(".") else from_tryton(value)
        )
        for key, value in row.items()
    }
    if "id" in record:
        record["id"] = str(record["id"])
    return record


def _fields_to_compare(wanted: dict[str, Any]) -> list[str]:
    """The fields to read before an update: the payload's own, and under each list of dicts
    the fields of its items (contact mechanisms: always their type and value)."""
    fields = []
    for key, value in wanted.items():
        fields.append(key)
        if _is_records(value) or key == "contact_mechanisms":
            names = {name for item in value for name in item if name != "id"}
            if key == "contact_mechanisms":
                names |= {"type", "value", "value_compact"}
            fields.extend(f"{key}.{name}" for name in sorted(names))
    return fields


def _same_mechanism_value(stored: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether a contact mechanism holds the wanted value, as Tryton would store it. Tryton
    stores phone numbers formatted ("+351 912 345 678" for "+351912345678", E.164 in
    ``value_compact``) and, with email-validator installed, emails normalised: compared
    plainly, every update would rewrite them."""
    held, value = stored.get("value"), wanted.get("value")
    if held == value:
        return True
    if not isinstance(held, str) or not isinstance(value, str):
        return False
    if stored.get("type") == "email":
        return held.casefold() == value.casefold()
    if stored.get("type") in PHONE_TYPES:
        number = _PHONE_PUNCTUATION.sub("", value)
        return number in (_PHONE_PUNCTUATION.sub("", held), stored.get("value_compact"))
    return False


def _contact_fields_as_mechanisms(wanted: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """A party payload with its flat contact fields moved into ``contact_mechanisms``, and the
    types whose value is empty (to be deleted)."""
    wanted = dict(wanted)
    mechanisms = list(wanted.get("contact_mechanisms") or [])
    cleared = set()
    for kind in PARTY_CONTACT_FIELDS:
        if kind not in wanted:
            continue
        value = wanted.pop(kind)
        if value in (None, ""):
            cleared.add(kind)
        else:
            mechanisms.append({"type": kind, "value": value})
    if mechanisms or cleared:
        wanted["contact_mechanisms"] = mechanisms
    return wanted, cleared


def _country_codes(value: Any) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from _country_codes(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "country" and isinstance(item, str) and item.strip():
                yield item.strip().upper()
            else:
                yield from _country_codes(item)


def _unanswered() -> ConnectorError:
    return ConnectorError("Tryton was not asked to create this record.")
