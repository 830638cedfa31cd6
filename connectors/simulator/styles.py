"""The simulated CRM and ERP in the API styles of other real systems, over the same records.

Every style serves both systems under its own base path, over the very records of /crm/api and
/erp/api (a write in one is seen in all)::

    GET           /styles/<style>/crm/contacts         (and /styles/<style>/erp/customers)
    POST          /styles/<style>/crm/contacts
    GET           /styles/<style>/crm/contacts/<id>    (and /styles/<style>/erp/customers/<id>)
    PUT or PATCH  /styles/<style>/crm/contacts/<id>

What all styles share, unless their entry below says otherwise:

- Records are the JSON objects of /crm/api and /erp/api (``id``, the fields, ``updated_at``, and
  ``created_at`` on the ERP), listed in (updated_at, id) order; a changed-since parameter takes
  an ISO 8601 datetime (``2024-05-01T00:00:00Z``; naive means UTC) and keeps the records
  updated at or after it. ``?email=<value>`` keeps only records with that email, ignoring case
  and surrounding spaces (the way to find the record behind a duplicate).
- ``GET .../<id>`` answers 200 with the record, or 404 ``{"detail": "Not found"}``.
- Records archived through /crm/api or /erp/api (server.py) are left out of every list and
  ``?email=`` look-up here too; ``GET .../<id>`` still answers them, marked ``"archived":
  true``. The styles have no archive, restore or delete endpoints of their own.
- Writes: ``POST`` creates, answering 201 with the record; ``PUT`` updates the fields given,
  answering 200 with the record. An ``Idempotency-Key`` header makes a repeated create replay
  the first answer. Invalid: 422 ``{"errors": {field: [message, ...]}}`` (unknown fields too);
  an email another ERP customer has: 409 ``{"errors": {"email": [...]}, "existing_id": "E-..."}``.
- Bad paging or datetime values: 400 ``{"detail": "..."}``; an unknown style or path: 404; a
  method the path does not take: 405 with an ``Allow`` header.
- No credentials, and never the simulator's ``--token``. Where a style wants credentials, a
  request without them answers 401 ``{"detail": "..."}`` with a ``WWW-Authenticate`` header.
- Faults, latency and chaos of a system (``/_control/faults``, ``/_control/latency``,
  ``/_control/chaos/<kind>``, see chaos.py) strike its styled paths as they strike /crm/api.

The styles (a changed-since parameter is honoured only where one is named):

``offset``
    ``GET ?offset=0&limit=50&modified_after=<datetime>``: offset at least 0 (default 0), limit
    1-200 (default 50). Answers 200 ``{"items": [...], "total": N}``, N counting every match.
    Auth: header ``X-API-Key: <api_key>``. Updates with ``PATCH`` (``PUT`` answers 405).
``no-since``
    As ``offset`` (``offset``, ``limit``, ``{"items", "total"}``), but every changed-since
    parameter is ignored: it always lists everything. No auth; updates with ``PUT``.
``range``
    ``GET ?updated_since=<datetime>`` with header ``Range: records=0-49`` (first and last
    index, inclusive; ``records=50-`` means from 50 on). Answers a bare JSON array with
    ``Content-Range: records 0-49/400`` and ``Accept-Ranges: records``: 206 while records
    remain after the range, 200 for the last range. At most 200 records an answer: trust
    Content-Range, not the range asked for. Without a Range header: the whole collection, 200.
    An empty collection: 200 ``[]`` with ``Content-Range: records */0``; a range starting at
    or past the end: 416 with ``Content-Range: records */400``; another unit or a malformed
    range: 400. Auth: HTTP Basic with ``<user>:<password>``.
``range-exclusive``
    As ``range``, with unit ``items`` and an exclusive end both ways: ``Range: items=0-50``
    asks for [0, 50) and is answered ``Content-Range: items 0-50/400``. No auth.
``link``
    ``GET ?page=1&per_page=20&since=<datetime>``: page at least 1, per_page 1-100 (default 20).
    Answers a bare JSON array; while later pages exist, an RFC 8288 header
    ``Link: <http://<host>/styles/link/crm/contacts?since=...&page=2&per_page=20>; rel="next"``
    repeats the request's query parameters except ``api_key``: send the key again when
    following it. Auth: query parameter ``?api_key=<api_key>``.
``cursor``
    ``GET ?limit=50&updated_after=<datetime>``, then ``GET ?limit=50&cursor=<next_cursor>``:
    limit 1-200 (default 50). Answers 200 ``{"data": [...], "meta": {"next_cursor": "<opaque>"
    or null}}``; null means done. The cursor is a keyset position, so records edited while a
    client pages come again later and none is skipped; with a cursor ``updated_after`` is
    ignored; send ``email`` with every page if filtering. A cursor this API never issued: 400.
    Auth: ``Authorization: Bearer <access_token>`` from ``POST /styles/oauth/token`` (below).
``bare``
    ``GET ?page=1&size=25&changed_since=<datetime>``: page at least 1, size 1-200 (default 25).
    Answers a bare JSON array and nothing else: a page shorter than size (maybe empty) is the
    last. Auth: ``Authorization: Token <token>`` from ``POST /styles/session/login`` (below).
``ignores-paging``
    Ignores every paging parameter and answers 200 ``{"results": [the first 10 records],
    "count": N}``, N counting every match; honours ``updated_since``. A reader must notice it
    got fewer records than count. No auth.
``message``
    Lists as ``offset`` (``offset``, ``limit``, ``modified_after``, ``{"items", "total"}``). A
    create answers 200 (not 201) ``{"message": "created", "data": {"id": "E-10006"}}``; an
    update 200 ``{"message": "updated", "data": {"id": "E-10001"}}``. Refusals, a duplicate
    email included, answer 400 with the field errors at the top level and no existing id:
    ``{"email": ["A customer with this email already exists."]}``; find the existing record
    with ``GET .../customers?email=<value>``. No auth; updates with ``PUT``.
``trailing-slash``
    Lists as ``offset``. The collection and its items live at paths ending in ``/``
    (``/styles/trailing-slash/erp/customers/``, ``.../customers/E-10001/``); any request
    without the slash answers 301 with ``Location: <the path with a slash>?<same query>``
    (clients that follow a 301 turn a POST into a GET). No auth; updates with ``PUT``.
``html-errors``
    Lists as ``offset``. A write with an unknown field answers 500 with an HTML page
    (``Content-Type: text/html``) instead of 422; other refusals as usual. No auth.

Authentication endpoints:

``POST /styles/oauth/token`` (OAuth2 client credentials, RFC 6749 section 4.4)
    Form body ``grant_type=client_credentials&client_id=<client_id>&client_secret=<secret>``
    (or the client in HTTP Basic). Answers 200 ``{"access_token": "...", "token_type":
    "Bearer", "expires_in": <seconds>}`` (no expires_in without a time limit). Errors: 400
    ``{"error": "invalid_request"}`` without grant_type, 400 ``{"error":
    "unsupported_grant_type"}``, 401 ``{"error": "invalid_client"}``.
``POST /styles/session/login``
    JSON ``{"user": "<user>", "password": "<password>"}``; answers 200 ``{"token": "..."}``,
    or 401 ``{"detail": "Invalid credentials."}``.

Both kinds of token are refused with 401 once ``token_ttl_seconds`` have passed since they were
issued or they have been used for ``token_ttl_requests`` requests (either limit may be null),
once ``/_control/chaos/expire_tokens`` is called, and after ``/_control/reset``. The credentials
and limits are world.Credentials: by default api_key ``sim-api-key``, user ``sim-user``,
password ``sim-password``, client_id ``sim-client``, client_secret ``sim-client-secret``,
tokens lasting 3600 s and any number of requests. Start the simulator with others in the
SIMULATOR_AUTH environment variable (a JSON object of those names, e.g.
``{"api_key": "k", "token_ttl_requests": 3}``; ``start_simulator(auth=...)`` sets it), or
change them while it runs with ``POST /_control/auth`` and the same object.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from http import HTTPStatus
from typing import Literal
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from .server import (
    COLLECTIONS,
    MAX_PAGE_SIZE,
    NOT_FOUND,
    Handler,
    HttpError,
    Reply,
    Request,
    _datetime_param,
)
from .world import UNKNOWN_FIELD, Answer, Record, System, TokenKind, World, parse_timestamp

IGNORED_PAGING_SHOWS = 10
MAX_LINK_PAGE_SIZE = 100
REALM = 'realm="simulator"'
SERVER_ERROR_PAGE = (
    "<!doctype html>\n<html><head><title>Server Error (500)</title></head>\n"
    "<body><h1>Server Error (500)</h1><p>Something went wrong.</p></body></html>\n"
)
_DIGITS = re.compile(r"\d+", re.ASCII)
_RANGE = re.compile(r"(?P<unit>[a-z]+)=(?P<first>\d+)-(?P<last>\d*)", re.ASCII)

Reader = Callable[[World, System, Request], Reply]
Guard = Callable[[World, Request], Reply | None]
Writes = Literal["plain", "message", "html-errors"]


@dataclass(frozen=True)
class Style:
    name: str
    read: Reader
    guard: Guard | None = None
    writes: Writes = "plain"
    update_method: str = "PUT"
    slashed: bool = False


# --- parameters ---------------------------------------------------------------------------


def _number(request: Request, name: str, default: int, low: int, high: int | None) -> int:
    text = request.params.get(name)
    if text is None:
        return default
    if not _DIGITS.fullmatch(text) or int(text) < low or (high is not None and int(text) > high):
        upper = f" and at most {high}" if high is not None else ""
        raise HttpError(
            HTTPStatus.BAD_REQUEST, f"{name} must be an integer of at least {low}{upper}."
        )
    return int(text)


def _since(request: Request, since_param: str | None) -> datetime | None:
    return _datetime_param(request.params, since_param) if since_param else None


def _matching(
    world: World,
    system: System,
    request: Request,
    since: datetime | None,
    start: int,
    stop: int = sys.maxsize,
) -> tuple[list[Record], int]:
    """The records the request asks for at positions start to stop of their (updated_at, id)
    order, and how many it asks for in all. Only those are read: a reader of one page of a
    million records must not copy the million."""
    email = request.params.get("email")
    return world.list_window(system, start, stop, updated_since=since, email=email)


# --- readers, one per way of paging -------------------------------------------------------


def read_by_offset(since_param: str | None) -> Reader:
    def read(world: World, system: System, request: Request) -> Reply:
        offset = _number(request, "offset", 0, 0, None)
        limit = _number(request, "limit", 50, 1, MAX_PAGE_SIZE)
        since = _since(request, since_param)
        records, total = _matching(world, system, request, since, offset, offset + limit)
        return Reply(HTTPStatus.OK, {"items": records, "total": total})

    return read


def read_by_range(unit: str, inclusive: bool) -> Reader:
    example = f"{unit}=0-49" if inclusive else f"{unit}=0-50"

    def read(world: World, system: System, request: Request) -> Reply:
        since = _since(request, "updated_since")
        first, stop = 0, sys.maxsize
        header = request.headers.get("Range")
        if header is not None:
            asked = _RANGE.fullmatch(header.strip())
            if asked is None or asked["unit"] != unit:
                raise HttpError(HTTPStatus.BAD_REQUEST, f"Range must look like {example!r}.")
            first = int(asked["first"])
            last = int(asked["last"]) if asked["last"] else first + MAX_PAGE_SIZE
            stop = last + 1 if inclusive and asked["last"] else last
            if stop <= first:
                raise HttpError(HTTPStatus.BAD_REQUEST, "A Range must not end before it starts.")
            stop = min(stop, first + MAX_PAGE_SIZE)
        records, total = _matching(world, system, request, since, first, stop)
        if header is not None and first >= total and total:
            return Reply(
                HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                {"detail": "The range starts past the last record."},
                {"Content-Range": f"{unit} */{total}"},
            )
        headers = {"Accept-Ranges": unit}
        if not total:
            return Reply(HTTPStatus.OK, [], headers | {"Content-Range": f"{unit} */0"})
        stop = first + len(records)
        shown_last = stop - 1 if inclusive else stop
        headers["Content-Range"] = f"{unit} {first}-{shown_last}/{total}"
        status = HTTPStatus.PARTIAL_CONTENT if stop < total else HTTPStatus.OK
        return Reply(status, records, headers)

    return read


def read_by_link(world: World, system: System, request: Request) -> Reply:
    page = _number(request, "page", 1, 1, None)
    per_page = _number(request, "per_page", 20, 1, MAX_LINK_PAGE_SIZE)
    start = (page - 1) * per_page
    records, total = _matching(
        world, system, request, _since(request, "since"), start, start + per_page
    )
    headers = {}
    if start + per_page < total:
        kept = {
            name: value
            for name, value in request.params.items()
            if name not in ("api_key", "page", "per_page")
        }
        query = urlencode(kept | {"page": page + 1, "per_page": per_page})
        host = request.headers.get("Host", "")
        headers["Link"] = f'<http://{host}{quote(request.path)}?{query}>; rel="next"'
    return Reply(HTTPStatus.OK, records, headers)


def _encode_cursor(record: Record) -> str:
    position = json.dumps([record["updated_at"], record["id"]]).encode()
    return base64.urlsafe_b64encode(position).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        updated_at, record_id = position
        parse_timestamp(updated_at)
        if not isinstance(record_id, str):
            raise TypeError(record_id)
    except (binascii.Error, ValueError, TypeError):
        raise HttpError(HTTPStatus.BAD_REQUEST, "cursor is not one this API gave out.") from None
    return updated_at, record_id


def read_by_cursor(world: World, system: System, request: Request) -> Reply:
    limit = _number(request, "limit", 50, 1, MAX_PAGE_SIZE)
    email = request.params.get("email")
    cursor = request.params.get("cursor") or None
    if cursor is None:
        since = _datetime_param(request.params, "updated_after")
        page, count = world.list_records(system, updated_since=since, page_size=limit, email=email)
    else:
        updated_at, record_id = _decode_cursor(cursor)
        page, count = world.list_records(
            system,
            updated_since=parse_timestamp(updated_at),
            after_id=record_id,
            page_size=limit,
            email=email,
        )
    next_cursor = _encode_cursor(page[-1]) if count > len(page) else None
    return Reply(HTTPStatus.OK, {"data": page, "meta": {"next_cursor": next_cursor}})


def read_bare(world: World, system: System, request: Request) -> Reply:
    page = _number(request, "page", 1, 1, None)
    size = _number(request, "size", 25, 1, MAX_PAGE_SIZE)
    since = _since(request, "changed_since")
    records, _ = _matching(world, system, request, since, (page - 1) * size, page * size)
    return Reply(HTTPStatus.OK, records)


def read_ignoring_paging(world: World, system: System, request: Request) -> Reply:
    since = _since(request, "updated_since")
    records, total = _matching(world, system, request, since, 0, IGNORED_PAGING_SHOWS)
    return Reply(HTTPStatus.OK, {"results": records, "count": total})


# --- guards, one per way of authenticating ------------------------------------------------


def _unauthorized(detail: str, challenge: str) -> Reply:
    return Reply(HTTPStatus.UNAUTHORIZED, {"detail": detail}, {"WWW-Authenticate": challenge})


def _authorization(request: Request, scheme: str) -> str | None:
    """The credentials of an Authorization header in this scheme, if it has one."""
    given, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if given.lower() == scheme.lower() and credentials else None


def _basic_pair(request: Request) -> tuple[str, str] | None:
    encoded = _authorization(request, "Basic")
    try:
        decoded = base64.b64decode(encoded or "", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, colon, secret = decoded.partition(":")
    return (name, secret) if colon else None


def api_key_in_header(world: World, request: Request) -> Reply | None:
    if world.access.accepts(api_key=request.headers.get("X-API-Key", "")):
        return None
    return _unauthorized("Invalid or missing X-API-Key header.", f"ApiKey {REALM}")


def api_key_in_query(world: World, request: Request) -> Reply | None:
    if world.access.accepts(api_key=request.params.get("api_key", "")):
        return None
    return _unauthorized("Invalid or missing api_key parameter.", f"ApiKey {REALM}")


def basic_auth(world: World, request: Request) -> Reply | None:
    user, password = _basic_pair(request) or ("", "")
    if world.access.accepts(user=user, password=password):
        return None
    return _unauthorized("Invalid or missing Basic credentials.", f"Basic {REALM}")


def _token_guard(scheme: str, kind: TokenKind) -> Guard:
    def guard(world: World, request: Request) -> Reply | None:
        token = _authorization(request, scheme)
        if token is not None and world.access.admit(kind, token):
            return None
        challenge = f"{scheme} {REALM}"
        if token is None:
            return _unauthorized(f"An Authorization: {scheme} header is required.", challenge)
        return _unauthorized("Invalid or expired token.", f'{challenge}, error="invalid_token"')

    return guard


bearer_token = _token_guard("Bearer", "bearer")
session_token = _token_guard("Token", "session")


STYLES: dict[str, Style] = {
    style.name: style
    for style in (
        Style("offset", read_by_offset("modified_after"), api_key_in_header, update_method="PATCH"),
        Style("no-since", read_by_offset(None)),
        Style("range", read_by_range("records", inclusive=True), basic_auth),
        Style("range-exclusive", read_by_range("items", inclusive=False)),
        Style("link", read_by_link, api_key_in_query),
        Style("cursor", read_by_cursor, bearer_token),
        Style("bare", read_bare, session_token),
        Style("ignores-paging", read_ignoring_paging),
        Style("message", read_by_offset("modified_after"), writes="message"),
        Style("trailing-slash", read_by_offset("modified_after"), slashed=True),
        Style("html-errors", read_by_offset("modified_after"), writes="html-errors"),
    )
}


# --- handlers -----------------------------------------------------------------------------


def _refusal(style: Style, world: World, request: Request) -> Reply | None:
    """Why the request does not reach the records: a missing slash, then missing credentials."""
    if style.slashed:
        target = urlsplit(request.target)
        if not target.path.endswith("/"):
            location = target.path + "/" + (f"?{target.query}" if target.query else "")
            return Reply(
                HTTPStatus.MOVED_PERMANENTLY,
                {"detail": "Moved Permanently"},
                {"Location": location},
            )
    return style.guard(world, request) if style.guard else None


def _written(style: Style, outcome: Answer, verb: str) -> Reply:
    """A write's answer in the style's own words."""
    if style.writes == "message":
        if outcome.status in (HTTPStatus.OK, HTTPStatus.CREATED):
            return Reply(HTTPStatus.OK, {"message": verb, "data": {"id": outcome.body["id"]}})
        if outcome.status in (HTTPStatus.UNPROCESSABLE_ENTITY, HTTPStatus.CONFLICT):
            return Reply(HTTPStatus.BAD_REQUEST, outcome.body["errors"])
    if style.writes == "html-errors" and outcome.status == HTTPStatus.UNPROCESSABLE_ENTITY:
        if any(UNKNOWN_FIELD in messages for messages in outcome.body["errors"].values()):
            return Reply(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                SERVER_ERROR_PAGE,
                content_type="text/html; charset=utf-8",
            )
    return Reply.of(outcome)


def list_records(
    style: Style, system: System, world: World, request: Request, match: re.Match[str]
) -> Reply:
    return _refusal(style, world, request) or style.read(world, system, request)


def get_record(
    style: Style, system: System, world: World, request: Request, match: re.Match[str]
) -> Reply:
    if refusal := _refusal(style, world, request):
        return refusal
    record = world.get_record(system, match["id"])
    return Reply(HTTPStatus.OK, record) if record else NOT_FOUND


def create_record(
    style: Style, system: System, world: World, request: Request, match: re.Match[str]
) -> Reply:
    if refusal := _refusal(style, world, request):
        return refusal
    key = request.headers.get("Idempotency-Key") or None
    return _written(style, world.create_record(system, request.json_object(), key), "created")


def update_record(
    style: Style, system: System, world: World, request: Request, match: re.Match[str]
) -> Reply:
    if refusal := _refusal(style, world, request):
        return refusal
    outcome = world.update_record(system, match["id"], request.json_object())
    return _written(style, outcome, "updated")


def issue_oauth_token(world: World, request: Request, match: re.Match[str]) -> Reply:
    form = {
        name: values[0]
        for name, values in parse_qs(
            request.body.decode(errors="replace"), keep_blank_values=True
        ).items()
    }
    client_id, client_secret = _basic_pair(request) or (
        form.get("client_id", ""),
        form.get("client_secret", ""),
    )
    grant_type = form.get("grant_type")
    if grant_type is None:
        return Reply(
            HTTPStatus.BAD_REQUEST,
            {"error": "invalid_request", "error_description": "grant_type is required."},
        )
    if grant_type != "client_credentials":
        return Reply(HTTPStatus.BAD_REQUEST, {"error": "unsupported_grant_type"})
    if not world.access.accepts(client_id=client_id, client_secret=client_secret):
        return Reply(
            HTTPStatus.UNAUTHORIZED,
            {"error": "invalid_client"},
            {"WWW-Authenticate": f"Basic {REALM}"},
        )
    ttl = world.access.credentials.token_ttl_seconds
    token = {"access_token": world.access.issue("bearer"), "token_type": "Bearer"}
    lifetime = {"expires_in": math.ceil(ttl)} if ttl else {}
    return Reply(HTTPStatus.OK, token | lifetime, {"Cache-Control": "no-store"})


def log_in(world: World, request: Request, match: re.Match[str]) -> Reply:
    body = request.json_object()
    user, password = body.get("user"), body.get("password")
    if not (isinstance(user, str) and isinstance(password, str)) or not world.access.accepts(
        user=user, password=password
    ):
        return Reply(HTTPStatus.UNAUTHORIZED, {"detail": "Invalid credentials."})
    return Reply(HTTPStatus.OK, {"token": world.access.issue("session")})


def style_routes() -> Iterator[tuple[str, str, Handler]]:
    """(method, path pattern, handler) of every styled path, for server.py's table."""
    yield "POST", "/styles/oauth/token", issue_oauth_token
    yield "POST", "/styles/session/login", log_in
    for style in STYLES.values():
        for system, collection in COLLECTIONS.items():
            base = f"/styles/{re.escape(style.name)}/{system}/{collection}"
            item = base + "/(?P<id>[^/]+)"
            yield "GET", base, partial(list_records, style, system)
            yield "POST", base, partial(create_record, style, system)
            yield "GET", item, partial(get_record, style, system)
            yield style.update_method, item, partial(update_record, style, system)
