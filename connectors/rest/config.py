"""A REST system described by data: the settings schema, its checks and its defaults.

Settings are JSON on the System row. Every resource setting may sit at the top level (the
system's default for all resources) or under ``resources.<name>`` (that resource only); a
resource's value replaces the system's whole, dictionaries included. The defaults are the
simulator's conventions, so that empty settings keep today's connector exactly:

    keyset paging (``?page_size=&updated_since=&after_id=``), records under ``results``,
    ``GET/PUT <resource>/{id}``, ``POST <resource>`` with an ``Idempotency-Key`` header and a
    look-up by ``?idempotency_key=``, bearer token, 409 bodies naming ``existing_id``.

System settings: ``auth``, ``follow_redirects`` (false), ``health_url``, ``headers``,
``resources``. Resource settings:

- ``list_url``, ``get_url``, ``create_url``, ``update_url``: templates resolved against the
  base URL as a browser resolves links (``contacts/`` under it, ``/v2/contacts`` from the
  host's root, or absolute; the same for ``health_url`` and the auth URLs). ``{id}`` is the
  record's id, ``{resource}`` the resource's name (for system-wide templates); trailing
  slashes and a query string are kept as written. ``get_url`` defaults to the list URL's
  path + ``/{id}`` (+ ``/`` when the list URL ends in one); create to the list URL, update
  to the get URL.
- ``update_method``: PUT or PATCH. ``query``: extra parameters of list requests.
- ``pagination``: ``{"type": ...}`` with one of PAGINATION_TYPES and that type's keys.
- ``records_path`` (where a page's records sit; "" for a bare array), ``record_path`` (where
  a get's answer holds the record), ``written_record_path`` (the same in create and update
  answers; defaults to record_path), ``created_id_path`` (where a create's id sits, from the
  body's root), ``payload_path`` (where a write's payload goes). "" is the body itself.
- ``id_field``, ``updated_at_field``, ``updated_at_format`` (iso8601, epoch_seconds,
  epoch_milliseconds or a strftime pattern), ``total_path`` (a count the source reports).
- ``changed_since``: ``{"param", "format", "overlap_seconds"}``, or null when the server
  cannot filter by change time (the connector then filters on its side).
- ``idempotency``: ``{"header", "lookup_param"}``, or null. ``search``: field -> parameter.
- ``errors``: ``{"rules": [{"status", "body_pattern", "kind"}], "message_path",
  "field_errors_path", "existing_id_path", "existing": {"field", "param", "list_url"}}``.
- ``batch``: how several records are created in one request, or null (the default: one
  ``POST`` per record). With it, ``capabilities.batch_create`` is true where every resource
  has one (``capabilities_for`` tells per resource). The simulator's, in full::

      "batch": {"url": "{resource}/batch", "max_records": 100,
                "records_path": "records", "payload_path": "record",
                "key_path": "idempotency_key", "results_path": "results",
                "status_path": "status", "record_path": "record"}

  ``url`` (required) is a template as ``create_url`` is. The request is a ``POST`` of at most
  ``max_records`` items, the list at ``records_path`` of the body ("" for a bare array); each
  item holds the payload at ``payload_path`` and the record's idempotency key at ``key_path``
  (null sends no key, allowed only where ``idempotency`` sends none either: a batch re-sent
  after a lost answer would otherwise create its records twice). More records go in several
  requests, in order. The answer holds one answer per record, in order, at ``results_path``
  ("" for a bare array), each with its HTTP status at ``status_path``: 2xx carries the record
  at ``record_path`` ("" for the answer itself; it must hold the id at ``id_field``); any
  other answer, without its status, is read by the resource's ``errors`` settings as the
  body of a single create's answer with that status would be, and becomes the same error.
  The ``errors`` rules judge each record's answer, and the batch's answer only when it is not
  a 2xx: a rule's body pattern that one record's refusal matches does not refuse the batch.
  An answer of another shape, and a whole answer that is an error (a timeout, 5xx, 429),
  raise for the whole call.
- ``archive``, ``restore``, ``delete``: how one record is archived (kept, but inactive: the
  system's lists and searches leave it out), restored (made active again; also the undo of a
  soft delete) and deleted (gone for good). Each is null by default: the system cannot, and
  ``capabilities.archive``, ``restore`` and ``delete`` are false unless every resource has the
  setting (``capabilities_for`` tells per resource). ``archive`` and ``restore`` take an
  object ``{"url", "method", "body"}``, or the URL alone as a string: ``url`` (required) is a
  template with ``{id}``, as ``get_url`` is; ``method`` one of RECORD_ACTION_METHODS (default
  POST); ``body`` JSON sent as it is (default: no body). ``delete`` takes true (``DELETE`` the
  get URL), false or null (none), or the same object, whose ``url`` defaults to the get URL
  and ``method`` to DELETE. The simulator's, system-wide::

      "archive": "{resource}/{id}/archive",
      "restore": "{resource}/{id}/restore",
      "delete": true

  A system that archives by writing a field: ``"archive": {"url": "{resource}/{id}",
  "method": "PATCH", "body": {"active": false}}``; one whose DELETE only hides a record (a
  soft delete) and that can undo it: ``"archive": {"url": "{resource}/{id}", "method":
  "DELETE"}`` with its ``restore``, and no ``delete``, which promises the record is gone.
  The connector expects a repeated archive or restore to be answered as a success, as the
  simulator answers it; a 404 or 410 to a delete counts as done once a get of the record
  answers 404 too (else the delete URL is wrong, and says so). An archive or restore
  answer with the record (at ``written_record_path``) gives the record returned; any other
  2xx answer is followed by a get of the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .records import ISO8601, date_format_error

PAGINATION_TYPES = (
    "page_number",
    "offset",
    "cursor",
    "link_header",
    "range",
    "short_page",
    "keyset",
    "none",
)
AUTH_TYPES = ("bearer", "api_key", "basic", "oauth2_client_credentials", "session", "none")
ERROR_KINDS = ("transient", "rejected", "already_exists", "not_found", "auth")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
UPDATE_METHODS = ("PUT", "PATCH")

# Per pagination type: its own keys and their defaults (None: not sent / not used).
PAGINATION_KEYS: dict[str, dict[str, Any]] = {
    "page_number": {"page_param": "page", "size_param": "page_size", "first_page": 1,
                    "next_path": None},
    "short_page": {"page_param": "page", "size_param": "page_size", "first_page": 1},
    "offset": {"offset_param": "offset", "limit_param": "limit"},
    "cursor": {"cursor_path": None, "cursor_param": "cursor", "next_url_path": None,
               "size_param": "limit"},
    "link_header": {"size_param": "per_page", "rel": "next"},
    "range": {"header": "Range", "unit": "records", "end": "inclusive"},
    "keyset": {"size_param": "page_size", "since_param": "updated_since",
               "after_param": "after_id", "since_format": ISO8601},
    "none": {},
}  # fmt: skip
AUTH_KEYS: dict[str, dict[str, Any]] = {
    "bearer": {"prefix": "Bearer"},
    "api_key": {"in": "header", "name": None, "prefix": ""},
    "basic": {"username": None},
    "oauth2_client_credentials": {"token_url": None, "client_id": None, "scope": None,
                                  "client_auth": "body", "token_path": "access_token",
                                  "expires_in_path": "expires_in"},
    "session": {"login_url": None, "method": "POST", "username": None,
                "username_field": "username", "password_field": "password", "body": {},
                "token_path": "token", "header": "Authorization", "prefix": "Bearer",
                "query_param": None, "refused_statuses": [401]},
    "none": {},
}  # fmt: skip
# Keys whose null means something ("send no page size", "a cookie session"); the others
# with a default must be strings.
NULLABLE_KEYS = frozenset({"size_param", "limit_param", "token_path", "expires_in_path"})
REQUIRED_AUTH_KEYS = {
    "basic": ("username",),
    "oauth2_client_credentials": ("token_url", "client_id"),
    "session": ("login_url",),
}
SYSTEM_KEYS = ("auth", "follow_redirects", "health_url", "headers", "resources")
RESOURCE_KEYS = (
    "list_url",
    "get_url",
    "create_url",
    "update_url",
    "update_method",
    "query",
    "pagination",
    "records_path",
    "record_path",
    "written_record_path",
    "created_id_path",
    "payload_path",
    "id_field",
    "updated_at_field",
    "updated_at_format",
    "total_path",
    "changed_since",
    "idempotency",
    "search",
    "errors",
    "batch",
    "archive",
    "restore",
    "delete",
)
# What a record's archive, restore or delete may be sent with; its keys.
RECORD_ACTION_METHODS = ("POST", "PUT", "PATCH", "DELETE")
RECORD_ACTION_KEYS = ("url", "method", "body")
# A batch's keys and their defaults (None: not sent); ``url`` has none and is required.
BATCH_KEYS: dict[str, Any] = {
    "url": None,
    "max_records": 100,
    "records_path": "records",
    "payload_path": "record",
    "key_path": "idempotency_key",
    "results_path": "results",
    "status_path": "status",
    "record_path": "record",
}
DEFAULT_IDEMPOTENCY = {"header": "Idempotency-Key", "lookup_param": "idempotency_key"}


class SettingsError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Pagination:
    type: str
    options: Mapping[str, Any]
    max_page_size: int | None = None

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not fields: a type's own keys.
        try:
            return self.__dict__["options"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class ChangedSince:
    param: str
    format: str = ISO8601
    overlap_seconds: float = 0.0


@dataclass(frozen=True)
class Idempotency:
    header: str | None
    lookup_param: str | None


@dataclass(frozen=True)
class ErrorRule:
    statuses: frozenset[int]
    status_classes: frozenset[int]  # 4 for "4xx"
    pattern: re.Pattern[str] | None
    kind: str

    def matches(self, status: int, text: str) -> bool:
        if self.statuses or self.status_classes:
            if status not in self.statuses and status // 100 not in self.status_classes:
                return False
        return self.pattern is None or bool(self.pattern.search(text))


@dataclass(frozen=True)
class ExistingLookup:
    field: str
    param: str
    list_url: str | None = None


@dataclass(frozen=True)
class ErrorConfig:
    rules: tuple[ErrorRule, ...] = ()
    message_path: str | None = None
    field_errors_path: str | None = "errors"
    existing_id_path: str | None = "existing_id"
    existing: ExistingLookup | None = None


@dataclass(frozen=True)
class BatchConfig:
    """How several records are created in one request; the module's docstring says how."""

    url: str
    max_records: int = 100
    records_path: str = "records"
    payload_path: str = "record"
    key_path: str | None = "idempotency_key"
    results_path: str = "results"
    status_path: str = "status"
    record_path: str = "record"
    # The errors settings as they judge the batch's answer as a whole: their rules only where
    # it is not a 2xx (a 2xx answer is judged record by record).
    call_errors: ErrorConfig = field(default_factory=ErrorConfig)


@dataclass(frozen=True)
class RecordAction:
    """How one record is archived, restored or deleted: ``method`` on ``url`` (its ``{id}``
    still to fill), with ``body`` as JSON (None: no body)."""

    url: str
    method: str = "POST"
    body: Any = None


@dataclass(frozen=True)
class AuthConfig:
    type: str = "bearer"
    options: Mapping[str, Any] = field(default_factory=lambda: dict(AUTH_KEYS["bearer"]))

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["options"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:  # for "in", which is no attribute name
        return self.options[name]


@dataclass(frozen=True)
class ResourceConfig:
    name: str
    list_url: str
    get_url: str
    create_url: str
    update_url: str
    update_method: str
    query: tuple[tuple[str, str], ...]
    pagination: Pagination
    records_path: str
    record_path: str
    written_record_path: str
    created_id_path: str | None
    payload_path: str
    id_field: str
    updated_at_field: str
    updated_at_format: str
    total_path: str | None
    changed_since: ChangedSince | None
    idempotency: Idempotency | None
    search: Mapping[str, str]
    errors: ErrorConfig
    batch: BatchConfig | None = None
    archive: RecordAction | None = None
    restore: RecordAction | None = None
    delete: RecordAction | None = None

    @property
    def keyset(self) -> bool:
        """The server reads after a position itself, in (updated_at, id) order."""
        return self.pagination.type == "keyset"

    @property
    def normalizes(self) -> bool:
        """Records get ``id``/``updated_at`` written in the engine's terms."""
        return (
            self.id_field != "id"
            or self.updated_at_field != "updated_at"
            or self.updated_at_format != ISO8601
        )


@dataclass(frozen=True)
class SystemConfig:
    auth: AuthConfig
    follow_redirects: bool
    health_url: str | None
    headers: Mapping[str, str]
    defaults: Mapping[str, Any]
    resources: Mapping[str, ResourceConfig]

    def resource(self, name: str) -> ResourceConfig:
        """The configured resource, or one built from the system's defaults."""
        found = self.resources.get(name)
        if found is not None:
            return found
        problems: list[str] = []
        built = _resource(name, self.defaults, {}, problems)
        if problems:  # the defaults were checked already; a name cannot break them
            raise SettingsError(problems)
        return built


def settings_errors(settings: Any) -> list[str]:
    """Why ``settings`` cannot describe a REST system, one sentence per problem; [] if they can."""
    try:
        load_config(settings)
    except SettingsError as exc:
        return exc.problems
    return []


def load_config(settings: Any) -> SystemConfig:
    """The checked configuration of ``settings``; raises SettingsError naming every problem."""
    problems: list[str] = []
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise SettingsError(["settings: must be an object of settings"])
    top = _Reader(settings, "", problems, SYSTEM_KEYS + RESOURCE_KEYS)
    auth = _auth(top.mapping("auth"), problems)
    follow = top.boolean("follow_redirects", False)
    health_url = top.text("health_url", None, nullable=True)
    headers = top.string_map("headers")
    defaults = {key: settings[key] for key in RESOURCE_KEYS if key in settings}
    # Check the defaults once as a resource of their own, so that their problems are named
    # at the top level, not once per resource.
    _resource("{resource}", defaults, {}, problems)
    resources: dict[str, ResourceConfig] = {}
    raw_resources = top.mapping("resources") or {}
    for name, raw in raw_resources.items():
        where = f"resources.{name}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: must be an object of resource settings")
            continue
        resources[name] = _resource(name, defaults, raw, problems, where)
    if problems:
        raise SettingsError(problems)
    return SystemConfig(auth, follow, health_url, headers, defaults, resources)


# --- reading and checking -----------------------------------------------------------------


class _Reader:
    """Reads typed values from one settings object, noting each problem with its path."""

    def __init__(
        self, raw: Mapping[str, Any], where: str, problems: list[str], known: Iterable[str]
    ) -> None:
        self.raw, self.where, self.problems = raw, where, problems
        known = tuple(known)
        for key in raw:
            if key not in known:
                problems.append(
                    f"{self.path(key)}: unknown setting; known here: {', '.join(known) or 'none'}"
                )

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def problem(self, key: str, text: str) -> None:
        self.problems.append(f"{self.path(key)}: {text}")

    def text(self, key: str, default: Any, *, nullable: bool = False, empty: bool = True) -> Any:
        value = self.raw.get(key, default)
        if value is None and (nullable or default is None):
            return None
        if not isinstance(value, str) or (not empty and not value):
            self.problem(key, "must be a non-empty string" if not empty else "must be a string")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            self.problem(key, "must be true or false")
            return default
        return value

    def number(self, key: str, default: float | None, *, minimum: float = 0) -> Any:
        value = self.raw.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            self.problem(key, f"must be a number of at least {minimum:g}")
            return default
        return value

    def integer(self, key: str, default: int | None, *, minimum: int = 0) -> Any:
        value = self.raw.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.problem(key, f"must be a whole number of at least {minimum}")
            return default
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.raw.get(key, default)
        if value not in choices:
            self.problem(key, f"{value!r} is not one of {', '.join(choices)}")
            return default
        return value

    def mapping(self, key: str) -> dict[str, Any] | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(key, "must be an object")
            return None
        return value

    def string_map(self, key: str) -> dict[str, str]:
        value = self.mapping(key) or {}
        result = {}
        for name, item in value.items():
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                self.problem(f"{key}.{name}", "must be a string or a number")
            else:
                result[str(name)] = str(item)
        return result

    def date_format(self, key: str, default: str) -> str:
        value = self.raw.get(key, default)
        problem = date_format_error(value)
        if problem:
            self.problem(key, problem)
            return default
        return value


def _auth(raw: dict[str, Any] | None, problems: list[str]) -> AuthConfig:
    if raw is None:
        return AuthConfig()
    kind = raw.get("type", "bearer")
    if kind not in AUTH_TYPES:
        problems.append(f"auth.type: {kind!r} is not one of {', '.join(AUTH_TYPES)}")
        return AuthConfig()
    defaults = AUTH_KEYS[kind]
    reader = _Reader(raw, "auth", problems, ("type", *defaults))
    options: dict[str, Any] = {}
    for key, default in defaults.items():
        if key == "body":
            options[key] = reader.mapping(key) or {}
        elif key == "refused_statuses":
            options[key] = _statuses(reader, key, default)[0]
        else:
            options[key] = reader.text(key, default, nullable=key in NULLABLE_KEYS)
    for key in REQUIRED_AUTH_KEYS.get(kind, ()):
        if not options.get(key):
            reader.problem(key, f"required for auth type {kind!r}")
    if kind == "api_key":
        where = reader.choice("in", ("header", "query"), "header")
        options["in"] = where
        options["name"] = options["name"] or ("X-API-Key" if where == "header" else "api_key")
    if kind == "oauth2_client_credentials":
        options["client_auth"] = reader.choice("client_auth", ("body", "basic"), "body")
    if kind == "session":
        options["method"] = reader.choice("method", ("POST", "GET", "PUT"), "POST")
    return AuthConfig(kind, options)


def _statuses(reader: _Reader, key: str, default: Any) -> tuple[frozenset[int], frozenset[int]]:
    value = reader.raw.get(key, default)
    items = value if isinstance(value, list) else [value]
    statuses, classes = set(), set()
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
            statuses.add(item)
        elif isinstance(item, str) and item in STATUS_CLASSES:
            classes.add(int(item[0]))
        else:
            reader.problem(
                key,
                f"{item!r} is not an HTTP status (100-599) or a class "
                f"({', '.join(STATUS_CLASSES)})",
            )
    return frozenset(statuses), frozenset(classes)


def _pagination(raw: Any, reader: _Reader) -> Pagination:
    default = Pagination("keyset", dict(PAGINATION_KEYS["keyset"]))
    if raw is None:
        return default
    if not isinstance(raw, dict):
        reader.problem("pagination", "must be an object with a type")
        return default
    kind = raw.get("type")
    where = reader.path("pagination")
    if kind not in PAGINATION_TYPES:
        reader.problems.append(
            f"{where}.type: {kind!r} is not one of {', '.join(PAGINATION_TYPES)}"
        )
        return default
    keys = PAGINATION_KEYS[kind]
    sub = _Reader(raw, where, reader.problems, ("type", "max_page_size", *keys))
    options: dict[str, Any] = {}
    for key, value in keys.items():
        if key == "first_page":
            options[key] = sub.integer(key, value, minimum=0)
        elif key == "since_format":
            options[key] = sub.date_format(key, value)
        else:
            options[key] = sub.text(key, value, nullable=key in NULLABLE_KEYS)
    if kind == "cursor" and not (options["cursor_path"] or options["next_url_path"]):
        sub.problem("cursor_path", "say where the next cursor sits (or set next_url_path)")
    if kind == "range":
        options["end"] = sub.choice("end", ("inclusive", "exclusive"), "inclusive")
        if not options["header"] or not options["unit"]:
            sub.problem("header", "a range needs its header and unit")
    if kind == "keyset" and not (options["since_param"] and options["after_param"]):
        sub.problem("since_param", "keyset paging needs since_param and after_param")
    return Pagination(kind, options, sub.integer("max_page_size", None, minimum=1))


def _template(reader: _Reader, key: str, default: str, *, needs_id: bool) -> str:
    value = reader.text(key, default, empty=False)
    if needs_id and "{id}" not in value:
        reader.problem(key, f"{value!r} needs the {{id}} placeholder")
    return value


def _item_url(list_url: str) -> str:
    path = list_url.split("?", 1)[0]
    return path + "{id}/" if path.endswith("/") else path + "/{id}"


def _errors(raw: Any, reader: _Reader) -> ErrorConfig:
    if raw is None:
        return ErrorConfig()
    if not isinstance(raw, dict):
        reader.problem("errors", "must be an object")
        return ErrorConfig()
    where = reader.path("errors")
    sub = _Reader(
        raw,
        where,
        reader.problems,
        ("rules", "message_path", "field_errors_path", "existing_id_path", "existing"),
    )
    rules = []
    raw_rules = raw.get("rules", [])
    if not isinstance(raw_rules, list):
        sub.problem("rules", "must be a list of rules")
        raw_rules = []
    for index, raw_rule in enumerate(raw_rules):
        rule_where = f"{where}.rules.{index}"
        if not isinstance(raw_rule, dict):
            reader.problems.append(f"{rule_where}: must be an object with a status and a kind")
            continue
        rule = _Reader(raw_rule, rule_where, reader.problems, ("status", "body_pattern", "kind"))
        statuses, classes = (
            _statuses(rule, "status", None) if "status" in raw_rule else (frozenset(), frozenset())
        )
        pattern_text = rule.text("body_pattern", None, nullable=True)
        pattern = None
        if pattern_text is not None:
            try:
                pattern = re.compile(pattern_text)
            except re.error as exc:
                rule.problem("body_pattern", f"{pattern_text!r} is not a regular expression: {exc}")
        if "status" not in raw_rule and pattern_text is None:
            reader.problems.append(f"{rule_where}: needs a status, a body_pattern or both")
        kind = rule.choice("kind", ERROR_KINDS, "rejected")
        if "kind" not in raw_rule:
            rule.problem("kind", f"required: one of {', '.join(ERROR_KINDS)}")
        rules.append(ErrorRule(statuses, classes, pattern, kind))
    existing = None
    raw_existing = sub.mapping("existing")
    if raw_existing is not None:
        look = _Reader(
            raw_existing, f"{where}.existing", reader.problems, ("field", "param", "list_url")
        )
        field_name = look.text("field", None, nullable=True)
        param = look.text("param", field_name, nullable=True)
        if not field_name:
            look.problem("field", "say which field the duplicate is found by")
        existing = ExistingLookup(
            field_name or "", param or field_name or "", look.text("list_url", None, nullable=True)
        )
    return ErrorConfig(
        tuple(rules),
        sub.text("message_path", None, nullable=True),
        sub.text("field_errors_path", "errors", nullable=True),
        sub.text("existing_id_path", "existing_id", nullable=True),
        existing,
    )


def _resource(
    name: str,
    defaults: Mapping[str, Any],
    own: Mapping[str, Any],
    problems: list[str],
    where: str = "",
) -> ResourceConfig:
    """The settings of resource ``name``: its own over the system's defaults. A problem is
    reported where it was written: the defaults' at the top level (checked with ``own`` empty
    and ``where`` ""), a resource's own under ``resources.<name>``."""
    raw = {**defaults, **own}
    mine: list[str] = []
    reader = _Reader(raw, where, mine, RESOURCE_KEYS)
    # A system-wide template names the resource with {resource}: "{resource}/" for an API
    # whose every URL ends in a slash.
    list_url = reader.text("list_url", name, empty=False).replace("{resource}", name)
    get_url = _template(reader, "get_url", _item_url(list_url), needs_id=True)
    get_url = get_url.replace("{resource}", name)
    create_url = reader.text("create_url", list_url, empty=False).replace("{resource}", name)
    update_url = _template(reader, "update_url", get_url, needs_id=True)
    update_url = update_url.replace("{resource}", name)
    record_path = reader.text("record_path", "")
    config = ResourceConfig(
        name=name,
        list_url=list_url,
        get_url=get_url,
        create_url=create_url,
        update_url=update_url,
        update_method=reader.choice("update_method", UPDATE_METHODS, "PUT"),
        query=tuple(reader.string_map("query").items()),
        pagination=_pagination(raw.get("pagination"), reader),
        records_path=reader.text("records_path", "results"),
        record_path=record_path,
        written_record_path=reader.text("written_record_path", record_path),
        created_id_path=reader.text("created_id_path", None, nullable=True),
        payload_path=reader.text("payload_path", ""),
        id_field=reader.text("id_field", "id", empty=False),
        updated_at_field=reader.text("updated_at_field", "updated_at", empty=False),
        updated_at_format=reader.date_format("updated_at_format", ISO8601),
        total_path=reader.text("total_path", None, nullable=True),
        changed_since=_changed_since(raw.get("changed_since"), reader),
        idempotency=_idempotency(raw.get("idempotency", DEFAULT_IDEMPOTENCY), reader),
        search=reader.string_map("search"),
        errors=_errors(raw.get("errors"), reader),
    )
    batch = _batch(raw.get("batch"), reader, config)
    if batch is not None:
        config = replace(config, batch=batch)
        if problem := _keyless_batch_problem(config, own, where):
            mine.append(problem)
    config = replace(
        config,
        archive=_record_action(raw.get("archive"), reader, "archive", config),
        restore=_record_action(raw.get("restore"), reader, "restore", config),
        delete=_delete(raw.get("delete"), reader, config),
    )
    if not where:
        problems.extend(mine)
    else:
        # What the resource inherits was checked at the top level already.
        own_paths = tuple(f"{where}.{key}" for key in own)
        problems.extend(p for p in mine if p.startswith(own_paths))
    return config


def _changed_since(raw: Any, reader: _Reader) -> ChangedSince | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        reader.problem(
            "changed_since", "must be an object (param, format, overlap_seconds) or null"
        )
        return None
    sub = _Reader(
        raw, reader.path("changed_since"), reader.problems, ("param", "format", "overlap_seconds")
    )
    param = sub.text("param", None, nullable=True)
    if not param:
        sub.problem(
            "param", "name the server's changed-since parameter, or set changed_since to null"
        )
    return ChangedSince(
        param or "", sub.date_format("format", ISO8601), sub.number("overlap_seconds", 0.0)
    )


def _idempotency(raw: Any, reader: _Reader) -> Idempotency | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        reader.problem("idempotency", "must be an object (header, lookup_param) or null")
        return None
    sub = _Reader(raw, reader.path("idempotency"), reader.problems, ("header", "lookup_param"))
    return Idempotency(
        sub.text("header", None, nullable=True), sub.text("lookup_param", None, nullable=True)
    )


def _batch(raw: Any, reader: _Reader, config: ResourceConfig) -> BatchConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        reader.problem("batch", "must be an object (url, max_records, ...) or null")
        return None
    sub = _Reader(raw, reader.path("batch"), reader.problems, BATCH_KEYS)
    url = sub.text("url", None, nullable=True)
    if not url:
        sub.problem("url", "required: where several records are created, e.g. '{resource}/batch'")
    elif "{id}" in url:
        sub.problem("url", f"{url!r} creates records: it has no {{id}} to fill")
    paths = {
        key: sub.text(key, default, nullable=key == "key_path")
        for key, default in BATCH_KEYS.items()
        if key not in ("url", "max_records")
    }
    if not paths["status_path"]:
        sub.problem("status_path", "say where each record's answer holds its HTTP status")
    if paths["key_path"] == "":
        sub.problem("key_path", "say where each record's idempotency key goes, or null for none")
        paths["key_path"] = None
    max_records = sub.integer("max_records", BATCH_KEYS["max_records"], minimum=1)
    if max_records is None:
        sub.problem("max_records", "must be a whole number of at least 1")
    return BatchConfig(
        url=(url or "").replace("{resource}", config.name),
        max_records=max_records or BATCH_KEYS["max_records"],
        call_errors=_beyond_2xx(config.errors),
        **paths,
    )


def _record_action(
    raw: Any, reader: _Reader, key: str, config: ResourceConfig
) -> RecordAction | None:
    """The ``archive`` or ``restore`` settings: null, a URL template, or an object."""
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"url": raw}
    if not isinstance(raw, dict):
        reader.problem(key, "must be an object (url, method, body), a URL template or null")
        return None
    return _action(raw, reader, key, config, None, "POST")


def _delete(raw: Any, reader: _Reader, config: ResourceConfig) -> RecordAction | None:
    """The ``delete`` settings: null or false, true (DELETE the get URL), or an object."""
    if raw is None or raw is False:
        return None
    if raw is True:
        return RecordAction(config.get_url, "DELETE")
    if not isinstance(raw, dict):
        reader.problem("delete", "must be true, false, null or an object (url, method, body)")
        return None
    return _action(raw, reader, "delete", config, config.get_url, "DELETE")


def _action(
    raw: dict[str, Any],
    reader: _Reader,
    key: str,
    config: ResourceConfig,
    default_url: str | None,
    default_method: str,
) -> RecordAction:
    sub = _Reader(raw, reader.path(key), reader.problems, RECORD_ACTION_KEYS)
    url = sub.text("url", default_url, nullable=True, empty=False)
    if url is None:
        if raw.get("url") is None:  # else text() named what is wrong with it
            example = f"{{resource}}/{{id}}/{key}"
            sub.problem("url", f"required: where a record is sent to {key}, e.g. {example!r}")
        url = ""
    elif "{id}" not in url:
        sub.problem("url", f"{url!r} needs the {{id}} placeholder")
    body = raw.get("body")
    if body is not None and not isinstance(body, dict | list):
        sub.problem("body", "must be a JSON object or list, or null for no body")
        body = None
    return RecordAction(
        url.replace("{resource}", config.name),
        sub.choice("method", RECORD_ACTION_METHODS, default_method),
        body,
    )


def _keyless_batch_problem(
    config: ResourceConfig, own: Mapping[str, Any], where: str
) -> str | None:
    """Why the resource's batch may not go without idempotency keys, if it may not; named
    where the resource wrote the setting that makes it so."""
    batch, idempotency = config.batch, config.idempotency
    if batch is None or batch.key_path is not None or idempotency is None:
        return None
    if not idempotency.header:
        return None
    at = "idempotency" if "idempotency" in own and "batch" not in own else "batch.key_path"
    return (
        f"{where + '.' if where else ''}{at}: a batch sends no idempotency keys (batch.key_path "
        f"is null) but single creates send them ({idempotency.header}): a batch re-sent after "
        "a lost answer would create its records twice. Say where each record's key goes, or "
        "set idempotency to null"
    )


def _beyond_2xx(errors: ErrorConfig) -> ErrorConfig:
    """``errors`` with rules that judge only answers that are not a 2xx."""
    others = frozenset({1, 3, 4, 5})
    rules = []
    for rule in errors.rules:
        if not rule.statuses and not rule.status_classes:
            rules.append(replace(rule, status_classes=others))
            continue
        statuses = frozenset(status for status in rule.statuses if status // 100 != 2)
        classes = rule.status_classes - {2}
        if statuses or classes:
            rules.append(replace(rule, statuses=statuses, status_classes=classes))
    return replace(errors, rules=tuple(rules))
