"""A connector for JSON REST APIs, configured by data (settings; see config.py).

With empty settings it speaks the simulator's conventions, as it always did:
``GET <resource>?page_size=&updated_since=&after_id=`` answers ``{"results": [...]}`` in
(updated_at, id) order, starting strictly after the record (updated_since, after_id);
``GET <resource>?idempotency_key=`` answers the record a create with that key made;
``GET/PUT <resource>/<id>``; ``POST <resource>`` with an ``Idempotency-Key`` header; 422 bodies
carry ``{"errors": {field: [messages]}}``; 409 bodies the ``existing_id``.

Reading order. The engine needs records in (updated_at, id) order, resuming strictly after a
Position. A server with keyset paging (pagination ``keyset``) gives exactly that: pages are
streamed, one in memory at a time, and ``capabilities.keyset_order`` is true. Every other
paging style (page numbers, offsets, cursors, links, ranges) walks the server's own order,
which a record edited mid-read can shift; so the connector reads the whole changed-since
window first (all records when the server cannot filter by change time), keeps the records
after the Position, de-duplicated by id (the newest version wins), and yields them sorted.
The price, stated plainly:

- memory: the window's records are held at once (all of them on a first run, or whenever the
  server has no changed-since parameter), not one page;
- requests: a run split into chunks reads its window again for each chunk; without a
  changed-since parameter that is the whole list each time;
- consistency: the read is as consistent as the server's paging. A record edited during the
  read is read in its newest version; a record that an edit pushed past the reader is caught
  when the source reports a total (``total_path``, ``Content-Range``): fewer distinct records
  than reported raise a ConnectorError and the run fails rather than move its cursor past
  them. Without a total such a shift goes unnoticed until a full run. Records committed late
  with an ``updated_at`` older than the Position are not read by incremental runs; the
  ``overlap_seconds`` of a changed-since parameter widens what is asked of the server (for
  servers that round or compare strictly), while what is yielded stays strictly after the
  Position, as the engine's chunked runs require.

``capabilities.keyset_order`` is true only when every resource is read by keyset;
``capabilities_for(resource)`` tells per resource.

Batches. With a resource's ``batch`` settings (config.py), ``create_many`` sends its records
in requests of at most ``max_records``, each record with its idempotency key, and answers each
record as ``create`` would have: the record as stored, or the same ConnectorError with the
same message. A request that fails as a whole raises, even after earlier requests of the same
call were answered: the engine then sends the records one by one with the same keys, which
the system answers with what it created the first time. Without ``batch`` settings,
``create_many`` is one ``create`` per record.

Archive, restore, delete. With a resource's ``archive``, ``restore`` and ``delete`` settings
(config.py), ``archive`` and ``restore`` send that request for one record and return the
record as the system answers it (or as a get reads it next, when the answer holds no record);
the record's archived marker is the system's own (the simulator's is ``"archived": true``).
``delete`` sends its request and takes a 404 or 410 as done (when a get of the record answers
404 too), so that a delete repeated after a lost answer succeeds. Without the setting, each
raises a ConnectorError naming it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from ..base import Capabilities, Health, Position, Record, record_position
from ..errors import AlreadyExistsError, ConnectorError, NotFoundError
from ..http import RateLimiter
from ..ratelimit import Limiter
from .config import RecordAction, ResourceConfig, SystemConfig, load_config, settings_errors
from .errors import item_error
from .masking import SecretMasker
from .paginators import Pager, select_records
from .records import (
    ISO8601,
    MISSING,
    format_moment,
    get_path,
    id_order,
    iso,
    parse_moment,
    seconds,
    wrap_at_path,
)
from .requester import Answer, Requester, fill_id, split_url

FIND_PAGE_SIZE = 50


def capabilities_of(resources: list[ResourceConfig]) -> Capabilities:
    return Capabilities(
        batch_create=all(r.batch is not None for r in resources),
        idempotency_keys=all(
            r.idempotency is not None and r.idempotency.header and r.idempotency.lookup_param
            for r in resources
        ),
        search_by_keys=all(bool(r.search) for r in resources),
        keyset_order=all(r.keyset for r in resources),
        archive=all(r.archive is not None for r in resources),
        restore=all(r.restore is not None for r in resources),
        delete=all(r.delete is not None for r in resources),
    )


class RestConnector:
    label = "REST (JSON, configured by settings)"
    # Shown in the admin beside a System's settings; the reference is config.py's docstring.
    settings_example = {
        "auth": {"type": "api_key", "name": "X-API-Key"},
        "records_path": "items",
        "total_path": "total",
        "pagination": {"type": "offset"},
        "changed_since": {"param": "modified_after"},
        "update_method": "PATCH",
        "batch": {"url": "{resource}/bulk", "max_records": 50, "results_path": "items"},
    }
    # What empty settings give; an instance states what its own settings give.
    capabilities = Capabilities(idempotency_keys=True, keyset_order=True)

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        rate_limit_per_second: float | None = None,
        settings: dict | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        self.config: SystemConfig = load_config(settings or {})
        self.masker = SecretMasker()
        # A limiter shared by the system's connectors (connector_for), else one of its own.
        self.limiter = limiter if limiter is not None else RateLimiter(rate_limit_per_second)
        self.requester = Requester(
            base_url,
            self.config,
            token=token,
            timeout=timeout,
            limiter=self.limiter,
            masker=self.masker,
        )
        self.client = self.requester.client
        self._resources: dict[str, ResourceConfig] = {}
        self.capabilities = capabilities_of(
            [self._resource("{resource}"), *self.config.resources.values()]
        )

    def _resource(self, name: str) -> ResourceConfig:
        if name not in self._resources:
            self._resources[name] = self.config.resource(name)
        return self._resources[name]

    @staticmethod
    def settings_errors(settings: dict[str, Any]) -> list[str]:
        return settings_errors(settings)

    def capabilities_for(self, resource: str) -> Capabilities:
        return capabilities_of([self._resource(resource)])

    # --- reading --------------------------------------------------------------------------

    def iter_records(
        self, resource: str, *, after: Position | None = None, page_size: int = 50
    ) -> Iterator[Record]:
        config = self._resource(resource)
        if config.keyset:
            return self._read_keyset(config, after, page_size)
        return self._read_window(config, after, page_size)

    def _read_keyset(
        self, config: ResourceConfig, after: Position | None, page_size: int
    ) -> Iterator[Record]:
        paging = config.pagination
        size = min(page_size, paging.max_page_size or page_size)
        position = after
        while True:
            params: list[tuple[str, Any]] = [(paging.size_param, size)] if paging.size_param else []
            if position is not None:
                params += [
                    (paging.since_param, self._since(position, paging.since_format)),
                    (paging.after_param, position.record_id),
                ]
            path, query = split_url(config.list_url, config.query, params)
            answer = self.requester.call("GET", path, params=query, errors=config.errors)
            results = select_records(answer.body, config.records_path, f"GET {config.list_url}")
            records = [self._normalized(config, record) for record in results]
            yield from records
            if len(results) < size:
                return
            last = record_position(records[-1]) if isinstance(records[-1], dict) else None
            if last is None:
                raise ConnectorError(
                    f"GET {config.list_url}: cannot page past a record without an id and "
                    "updated_at.",
                    response_body=results[-1],
                )
            if last == position:
                raise ConnectorError(
                    f"GET {config.list_url}: the page after {last.record_id} began again at "
                    f"the same place; the server ignores {paging.after_param!r}, so keyset "
                    "paging cannot work with it.",
                    response_body=answer.body,
                )
            position = last

    def _read_window(
        self, config: ResourceConfig, after: Position | None, page_size: int
    ) -> Iterator[Record]:
        where = f"GET {config.list_url}"
        start: tuple[Any, tuple[int, str]] | None = None
        extra: list[tuple[str, str]] = []
        if after is not None:
            moment = parse_moment(after.updated_at)
            if moment is None:
                raise ConnectorError(f"{where}: cannot resume after {after.updated_at!r}.")
            start = (moment, id_order(after.record_id))
            if config.changed_since is not None:
                bound = moment - seconds(config.changed_since.overlap_seconds)
                extra = [
                    (config.changed_since.param, format_moment(bound, config.changed_since.format))
                ]
        pager = Pager(self.requester, config, page_size=page_size, extra=extra)
        kept: dict[str, tuple[tuple[Any, tuple[int, str]], Record]] = {}
        distinct: set[str] = set()
        for page in pager.pages():
            for raw in page.records:
                record = self._normalized(config, raw)
                record_id, order = self._order_of(config, record, where)
                distinct.add(record_id)
                if start is not None and order <= start:
                    continue
                held = kept.get(record_id)
                if held is None or order[0] >= held[0][0]:
                    kept[record_id] = (order, record)
        if pager.total is not None and len(distinct) < pager.total:
            raise ConnectorError(
                f"{where}: the source reports {pager.total} records but its pages held "
                f"{len(distinct)} distinct ones. Records moved between pages while they were "
                "read, or the server caps its pages below the size asked for (set "
                "pagination.max_page_size); nothing was yielded, so nothing is skipped."
            )
        for _, record in sorted(kept.values(), key=lambda item: item[0]):
            yield record

    def first_page(self, resource: str, *, page_size: int = 5) -> list[Any]:
        """The records of one page of ``resource``, as the connector reads them."""
        config = self._resource(resource)
        if config.keyset:
            paging = config.pagination
            params = [(paging.size_param, page_size)] if paging.size_param else []
            path, query = split_url(config.list_url, config.query, params)
            answer = self.requester.call("GET", path, params=query, errors=config.errors)
            records = select_records(answer.body, config.records_path, f"GET {config.list_url}")
        else:
            records = Pager(self.requester, config, page_size=page_size).first_page().records
        return [self._normalized(config, record) for record in records]

    def get(self, resource: str, record_id: str) -> Record:
        config = self._resource(resource)
        answer = self.requester.call(
            "GET", fill_id(config.get_url, record_id), errors=config.errors
        )
        record = get_path(answer.body, config.record_path, None)
        if config.record_path and not isinstance(record, dict):
            raise ConnectorError(
                f"GET {config.get_url}: expected the record at {config.record_path!r}.",
                response_body=answer.body,
            )
        return self._normalized(config, record)

    def find(self, resource: str, keys: dict[str, Any]) -> list[Record]:
        """Records whose fields equal ``keys`` (text compared without case or surrounding
        blanks), asked of the server through the resource's ``search`` parameters and
        checked again here: a server's filter may be looser than equality."""
        config = self._resource(resource)
        missing = [name for name in keys if name not in config.search]
        if missing:
            raise ConnectorError(
                f"Cannot search {resource} by {', '.join(missing)}: the settings' search names "
                f"no parameter for {'it' if len(missing) == 1 else 'them'}."
            )
        return self._search(
            config, config.list_url, [(config.search[k], v) for k, v in keys.items()], keys
        )

    def find_created(self, resource: str, idempotency_key: str) -> Record | None:
        config = self._resource(resource)
        if config.idempotency is None or not config.idempotency.lookup_param:
            return None  # capabilities say so: this system cannot tell
        path, query = split_url(
            config.list_url, config.query, [(config.idempotency.lookup_param, idempotency_key)]
        )
        answer = self.requester.call("GET", path, params=query, errors=config.errors)
        results = select_records(answer.body, config.records_path, f"GET {config.list_url}")
        if len(results) > 1:
            raise ConnectorError(
                f"GET {config.list_url}: {len(results)} records for one idempotency key; the "
                f"server ignores {config.idempotency.lookup_param!r} (set idempotency.lookup_param "
                "to null).",
                response_body=answer.body,
            )
        return self._normalized(config, results[0]) if results else None

    # --- writing --------------------------------------------------------------------------

    def create(self, resource: str, payload: Record, *, idempotency_key: str) -> Record:
        config = self._resource(resource)
        headers = {}
        if config.idempotency is not None and config.idempotency.header:
            headers[config.idempotency.header] = idempotency_key
        try:
            answer = self.requester.call(
                "POST",
                config.create_url,
                json=wrap_at_path(payload, config.payload_path),
                headers=headers,
                errors=config.errors,
            )
        except AlreadyExistsError as exc:
            self._name_existing(config, payload, exc)
            raise
        return self._written(config, answer, payload, None)

    def create_many(
        self, resource: str, payloads: list[Record], *, idempotency_keys: list[str] | None = None
    ) -> list[Record | Exception]:
        """Create each payload, with its idempotency key (a new one each without keys): one
        answer per payload, in order, the record as stored or the ConnectorError that refused
        it. In requests of the resource's ``batch`` settings when it has them (raising when
        one fails as a whole), else one create per payload."""
        if idempotency_keys is None:
            idempotency_keys = [str(uuid.uuid4()) for _ in payloads]
        elif len(idempotency_keys) != len(payloads):
            raise ValueError(
                f"{len(idempotency_keys)} idempotency keys for {len(payloads)} payloads: give "
                "one per payload."
            )
        config = self._resource(resource)
        if config.batch is None:
            answers: list[Record | Exception] = []
            for payload, key in zip(payloads, idempotency_keys, strict=True):
                try:
                    answers.append(self.create(resource, payload, idempotency_key=key))
                except ConnectorError as exc:
                    answers.append(exc)
            return answers
        size = config.batch.max_records
        return [
            answer
            for start in range(0, len(payloads), size)
            for answer in self._create_batch(
                config, payloads[start : start + size], idempotency_keys[start : start + size]
            )
        ]

    def _create_batch(
        self, config: ResourceConfig, payloads: list[Record], keys: list[str]
    ) -> list[Record | Exception]:
        """One batch request (at most max_records payloads) and its answer, record by record."""
        batch = config.batch
        assert batch is not None
        items = []
        for payload, key in zip(payloads, keys, strict=True):
            item = wrap_at_path(payload, batch.payload_path)
            items.append(_placed(item, batch.key_path, key) if batch.key_path else item)
        answer = self.requester.call(
            "POST",
            batch.url,
            json=wrap_at_path(items, batch.records_path),
            errors=batch.call_errors,
        )
        where = f"POST {batch.url}"
        results = get_path(answer.body, batch.results_path, None)
        if not isinstance(results, list) or len(results) != len(payloads):
            found = f"{len(results)} answers" if isinstance(results, list) else "no list of answers"
            raise ConnectorError(
                f"{where}: expected {len(payloads)} answers, one per record, at "
                f"{batch.results_path!r} (batch.results_path); found {found}.",
                status=answer.response.status_code,
                response_body=answer.body,
            )
        # Each record's error names the request a create of it alone would have made.
        single = f"POST {self.requester.resolve(split_url(config.create_url)[0]).path}"
        return [
            self._batch_answer(config, result, payload, where, single, index)
            for index, (result, payload) in enumerate(zip(results, payloads, strict=True))
        ]

    def _batch_answer(
        self,
        config: ResourceConfig,
        result: Any,
        payload: Record,
        where: str,
        single: str,
        index: int,
    ) -> Record | Exception:
        batch = config.batch
        assert batch is not None
        status = get_path(result, batch.status_path, None)
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            # The record's fate is unknown: fail the call, so that the engine sends the records
            # again one by one under the same keys.
            raise ConnectorError(
                f"{where}: the answer for record {index + 1} has no HTTP status at "
                f"{batch.status_path!r} (batch.status_path).",
                response_body=result,
            )
        body = _without(result, batch.status_path)
        error = item_error(status, body, config.errors, single)
        if isinstance(error, AlreadyExistsError):
            self._name_existing(config, payload, error)
        if error is not None:
            return error
        record = get_path(body, batch.record_path, None)
        record = self._normalized(config, record) if isinstance(record, dict) else {}
        if record.get("id") in (None, "") or isinstance(record["id"], dict | list):
            return ConnectorError(
                f"{where}: answered {status} for record {index + 1} without the new record's "
                f"id at {batch.record_path!r} (batch.record_path) and {config.id_field!r} "
                "(id_field); the record may have been created.",
                status=status,
                response_body=body,
            )
        return record

    def update(self, resource: str, record_id: str, payload: Record) -> Record:
        config = self._resource(resource)
        try:
            answer = self.requester.call(
                config.update_method,
                fill_id(config.update_url, record_id),
                json=wrap_at_path(payload, config.payload_path),
                errors=config.errors,
            )
        except AlreadyExistsError as exc:
            self._name_existing(config, payload, exc)
            raise
        return self._written(config, answer, payload, record_id)

    def archive(self, resource: str, record_id: str) -> Record:
        """Archive the record with the resource's ``archive`` request and return it as the
        system then holds it. Idempotent as far as the system is (the simulator answers an
        archived record's archive with the record, unchanged); NotFoundError when the system
        has no such record."""
        config = self._resource(resource)
        return self._record_action(config, config.archive, "archive", record_id)

    def restore(self, resource: str, record_id: str) -> Record:
        """Make an archived record active again with the resource's ``restore`` request and
        return it. Idempotent as far as the system is (the simulator answers an active
        record's restore with the record, unchanged); NotFoundError when the system has no
        such record, AlreadyExistsError when it refuses because another record holds a
        unique value of this one now."""
        config = self._resource(resource)
        return self._record_action(config, config.restore, "restore", record_id)

    def delete(self, resource: str, record_id: str) -> None:
        """Delete the record for good with the resource's ``delete`` request. Idempotent: a
        404 or 410 answer (deleted before, or never there) counts as done, once a get of the
        record answers 404 too; a record the get still finds raises a ConnectorError (the
        delete URL is wrong, and every delete would pass for done)."""
        config = self._resource(resource)
        action = self._action(config, config.delete, "delete")
        try:
            self._send_action(config, action, record_id)
        except NotFoundError as exc:
            gone = exc
        except ConnectorError as exc:
            if exc.status != 410:
                raise
            gone = exc
        else:
            return
        try:
            self.get(resource, record_id)
        except NotFoundError:
            return
        raise ConnectorError(
            f"{gone.message} Yet {config.get_url} still finds the record: check the resource's "
            "delete settings.",
            status=gone.status,
            response_body=gone.response_body,
        )

    def _record_action(
        self, config: ResourceConfig, action: RecordAction | None, name: str, record_id: str
    ) -> Record:
        answer = self._send_action(config, self._action(config, action, name), record_id)
        record = get_path(answer.body, config.written_record_path, None)
        record = self._normalized(config, record) if isinstance(record, dict) else None
        if record is not None and str(record.get("id", "")) == str(record_id):
            return record
        # A 204, or an answer without the record ({"message": "archived"}): read it.
        return self.get(config.name, record_id)

    def _send_action(self, config: ResourceConfig, action: RecordAction, record_id: str) -> Answer:
        return self.requester.call(
            action.method,
            fill_id(action.url, record_id),
            json=action.body,
            errors=config.errors,
        )

    @staticmethod
    def _action(config: ResourceConfig, action: RecordAction | None, name: str) -> RecordAction:
        if action is None:
            raise ConnectorError(
                f"Cannot {name} {config.name} records: the settings name no {name!r} request "
                f"for them (capability {name} is false)."
            )
        return action

    # --- health ---------------------------------------------------------------------------

    def health(self) -> Health:
        """Reach the system with its credentials: the health URL if one is set, else one page
        of the first resource; with neither, the base URL (which proves little: said so)."""
        try:
            if self.config.health_url:
                answer = self.requester.call(
                    "GET", self.config.health_url, errors=self._resource("{resource}").errors
                )
                return Health(
                    True, f"{self.config.health_url} answered {answer.response.status_code}."
                )
            if self.config.resources:
                name = next(iter(self.config.resources))
                records = self.first_page(name, page_size=1)
                return Health(True, f"Read a page of {name} ({len(records)} record(s) on it).")
            return self._base_health()
        except ConnectorError as exc:
            return Health(False, f"{exc.kind}: {self.masker.text(exc.message)}")

    def _base_health(self) -> Health:
        response = self.requester.transmit("GET", "")
        status = response.status_code
        if status < 300:
            return Health(True, f"The base URL answered {status}.")
        if status in (404, 405):
            return Health(
                True,
                f"Reachable (the base URL answered {status}), but no record was read: name a "
                "resource or a health_url in the settings to check the credentials too.",
            )
        return Health(False, f"The base URL answered {status} {response.reason_phrase}.")

    def close(self) -> None:
        self.requester.close()

    # --- records --------------------------------------------------------------------------

    def _normalized(self, config: ResourceConfig, record: Any) -> Any:
        """``record`` with ``id`` and ``updated_at`` in the engine's terms when the system
        names or writes them otherwise (the source's own fields stay as they were)."""
        if not config.normalizes or not isinstance(record, dict):
            return record
        record = dict(record)
        record_id = get_path(record, config.id_field)
        if record_id is not MISSING:
            record["id"] = record_id
        written = get_path(record, config.updated_at_field)
        moment = parse_moment(written, config.updated_at_format)
        if moment is not None:
            record["updated_at"] = iso(moment)
        elif config.updated_at_field != "updated_at":
            record.pop("updated_at", None)
        return record

    def _order_of(
        self, config: ResourceConfig, record: Any, where: str
    ) -> tuple[str, tuple[Any, tuple[int, str]]]:
        if not isinstance(record, dict):
            raise ConnectorError(f"{where}: expected records as objects, got {record!r:.80}.")
        record_id = record.get("id")
        moment = parse_moment(record.get("updated_at"), ISO8601)
        if record_id in (None, "") or moment is None:
            raise ConnectorError(
                f"{where}: a record without a usable {config.id_field!r} and "
                f"{config.updated_at_field!r} ({config.updated_at_format}) cannot be placed in "
                "(updated_at, id) order; check the settings' id_field, updated_at_field and "
                "updated_at_format.",
                response_body=record,
            )
        return str(record_id), (moment, id_order(record_id))

    def _since(self, position: Position, fmt: str) -> str:
        if fmt == ISO8601:
            return position.updated_at  # as the source wrote it, as the engine passed it on
        moment = parse_moment(position.updated_at)
        if moment is None:
            raise ConnectorError(f"Cannot resume after {position.updated_at!r}.")
        return format_moment(moment, fmt)

    def _written(
        self, config: ResourceConfig, answer: Answer, payload: Record, record_id: str | None
    ) -> Record:
        """The record a create or an update stored: the answer's record when it has its id,
        else the payload as sent with what the answer carried and the id."""
        record = get_path(answer.body, config.written_record_path, None)
        record = self._normalized(config, record) if isinstance(record, dict) else None
        if config.created_id_path and record_id is None:
            created = get_path(answer.body, config.created_id_path, None)
        elif record is not None and record.get("id") not in (None, ""):
            return record
        else:
            created = record_id if record_id is not None else _id_from_location(answer)
        if created in (None, "") or isinstance(created, dict | list):
            request = answer.response.request
            raise ConnectorError(
                f"{request.method} {request.url.path}: answered {answer.response.status_code} "
                f"without the new record's id (created_id_path "
                f"{config.created_id_path or 'not set'}); the record may have been created.",
                status=answer.response.status_code,
                response_body=answer.body,
            )
        return {**payload, **(record or {}), "id": created}

    def _name_existing(
        self, config: ResourceConfig, payload: Record, error: AlreadyExistsError
    ) -> None:
        """Find the id of the record that holds the duplicated value, when the answer did
        not name it and the settings say how to look it up. A failed look-up changes nothing:
        the refusal is still the news."""
        lookup = config.errors.existing
        if error.existing_id or lookup is None:
            return
        value = get_path(payload, lookup.field, None)
        if value in (None, ""):
            return
        try:
            found = self._search(
                config,
                lookup.list_url or config.list_url,
                [(lookup.param, value)],
                {lookup.field: value},
            )
        except ConnectorError:
            return
        if len(found) == 1 and found[0].get("id") not in (None, ""):
            error.existing_id = str(found[0]["id"])

    def _search(
        self, config: ResourceConfig, url: str, params: list[tuple[str, Any]], keys: dict[str, Any]
    ) -> list[Record]:
        if config.keyset:
            path, query = split_url(url, config.query, params)
            answer = self.requester.call("GET", path, params=query, errors=config.errors)
            raw = select_records(answer.body, config.records_path, f"GET {url}")
        else:
            pager = Pager(self.requester, config, page_size=FIND_PAGE_SIZE, extra=params, url=url)
            raw = [record for page in pager.pages() for record in page.records]
        records = [self._normalized(config, record) for record in raw]
        return [
            record
            for record in records
            if isinstance(record, dict)
            and all(_same(get_path(record, name, None), value) for name, value in keys.items())
        ]


def _same(theirs: Any, ours: Any) -> bool:
    if isinstance(theirs, str) and isinstance(ours, str):
        return theirs.strip().casefold() == ours.strip().casefold()
    return theirs == ours or (theirs is not None and str(theirs) == str(ours))


def _placed(item: Any, path: str, value: Any) -> Any:
    """A copy of ``item`` with ``value`` at the dotted ``path`` (objects made on the way)."""
    *steps, last = path.split(".")
    placed = dict(item) if isinstance(item, dict) else {}
    current = placed
    for step in steps:
        inner = current.get(step)
        current[step] = dict(inner) if isinstance(inner, dict) else {}
        current = current[step]
    current[last] = value
    return placed


def _without(answer: Any, status_path: str) -> Any:
    """A record's answer in a batch without its status, when the status is one of its keys:
    the body a create of the record alone would have been answered with."""
    if isinstance(answer, dict) and "." not in status_path:
        return {name: value for name, value in answer.items() if name != status_path}
    return answer


def _id_from_location(answer: Answer) -> str | None:
    location = answer.response.headers.get("Location")
    if not location:
        return None
    last = location.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return last or None
