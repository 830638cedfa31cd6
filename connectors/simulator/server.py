"""HTTP front of the simulator: the CRM under /crm/api, the ERP under /erp/api, JSON only.

Besides one record at a time, ``POST /<system>/api/<collection>/batch`` creates up to
MAX_BATCH_RECORDS records in one request (create_records says how). A list takes
``?email=<value>`` to keep only the records of that email, ignoring case and surrounding
spaces, as the styles do.

Records can be archived, restored and deleted (world.py's World says what each does)::

    POST    /<system>/api/<collection>/<id>/archive   200 with the record, "archived": true
    POST    /<system>/api/<collection>/<id>/restore   200 with the record, no longer marked;
                                                      409 as a create when its email is taken
    DELETE  /<system>/api/<collection>/<id>           204, no body

each 404 ``{"detail": "Not found"}`` for an id the system does not have, and each idempotent:
archiving an archived record or restoring an active one changes nothing and answers 200 with
it as it is. Archived records are left out of lists, keyset reads and ``?email=`` look-ups
(``?archived=true`` lists only the archived ones, with the same paging); ``GET .../<id>`` still
answers them, marked ``"archived": true``; an active record carries no marker. An archived
ERP customer's email is free for another, so its restore may meet a 409. Archive and restore
move the record's updated_at to now; a repeated one does not. The token, faults, latency and
chaos apply to these requests as to every other request of their system. /_control/stats
counts archived records with the others.

The same records are also served in the API styles of other real systems under
/styles/<style>/ (styles.py, which documents them; they check their own credentials, never
the --token). Control: /_control/faults (statuses), /_control/latency, /_control/chaos/<kind>
(chaos.py), /_control/auth (the styles' credentials, see control_auth), /_control/reset,
/_control/stats.

Built on the standard library so that it runs as its own process without Django's
request machinery; all state lives in a World (world.py).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import socketserver
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import Message
from functools import cache, partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .chaos import Mishap
from .world import SYSTEMS, Answer, Fault, System, World, parse_timestamp

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_BODY_BYTES = 1_000_000
MAX_LATENCY_SECONDS = 10.0
MAX_BATCH_RECORDS = 100
BATCH_ITEM_KEYS = ("idempotency_key", "record")
COLLECTIONS: dict[System, str] = {"crm": "contacts", "erp": "customers"}
_DIGITS = re.compile(r"\d+", re.ASCII)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Mapping[str, Any] | list[Any] | str  # a str is sent as it is, in content_type
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    @classmethod
    def of(cls, outcome: Answer) -> Reply:
        return cls(outcome.status, outcome.body)


NOT_FOUND = Reply(HTTPStatus.NOT_FOUND, {"detail": "Not found"})


class HttpError(Exception):
    """Ends a request early with {"detail": ...}."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: Mapping[str, str]
    headers: Message
    body: bytes
    target: str = ""  # as sent: path (trailing slash kept) and query, undecoded

    def json_object(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body)
        except (ValueError, RecursionError) as exc:
            detail = f"Request body is not valid JSON: {exc}"
            raise HttpError(HTTPStatus.BAD_REQUEST, detail) from exc
        if not isinstance(data, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "Request body must be a JSON object.")
        return data


Handler = Callable[[World, Request, re.Match[str]], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


# --- parameters ---------------------------------------------------------------------------


def _int_param(params: Mapping[str, str], name: str, default: int, high: int | None) -> int:
    text = params.get(name)
    if text is None:
        return default
    value = int(text) if _DIGITS.fullmatch(text) else 0
    if value < 1 or (high is not None and value > high):
        upper = f" and at most {high}" if high is not None else ""
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be an integer of at least 1{upper}.")
    return value


def _datetime_param(params: Mapping[str, str], name: str) -> datetime | None:
    text = params.get(name)
    if text is None:
        return None
    # An unencoded "+00:00" offset arrives as " 00:00" after query-string decoding.
    try:
        return parse_timestamp(text.replace(" ", "+"))
    except ValueError:
        raise HttpError(
            HTTPStatus.BAD_REQUEST,
            f"{name} must be an ISO 8601 datetime, e.g. 2024-05-01T00:00:00Z.",
        ) from None


def _control_int(value: Any, name: str, low: int, high: int | None) -> int:
    # bool is an int subclass, but "count": true is a client mistake, not 1.
    valid = isinstance(value, int) and not isinstance(value, bool)
    if not valid or value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"of at least {low}"
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be an integer {bounds}.")
    return value


def _optional_control_int(value: Any, name: str) -> int | None:
    return None if value is None else _control_int(value, name, 0, None)


def _control_seconds(value: Any, name: str) -> float:
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    if not valid or not 0 <= value <= MAX_LATENCY_SECONDS:
        raise HttpError(
            HTTPStatus.BAD_REQUEST,
            f"{name} must be a number of seconds between 0 and {MAX_LATENCY_SECONDS:g}.",
        )
    return float(value)


# --- handlers -----------------------------------------------------------------------------


def health(world: World, request: Request, match: re.Match[str]) -> Reply:
    return Reply(HTTPStatus.OK, {"status": "ok"})


def _flag_param(params: Mapping[str, str], name: str) -> bool:
    text = params.get(name, "false")
    if text not in ("true", "false"):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be true or false.")
    return text == "true"


def list_records(system: System, world: World, request: Request, match: re.Match[str]) -> Reply:
    key = request.params.get("idempotency_key")
    if key is not None:
        found = world.created_with_key(system, key)
        return Reply(
            HTTPStatus.OK, {"results": [found] if found else [], "count": int(bool(found))}
        )
    page = _int_param(request.params, "page", 1, None)
    page_size = _int_param(request.params, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    since = _datetime_param(request.params, "updated_since")
    after_id = request.params.get("after_id") or None
    if after_id is not None and since is None:
        raise HttpError(HTTPStatus.BAD_REQUEST, "after_id needs updated_since.")
    results, count = world.list_records(
        system,
        updated_since=since,
        after_id=after_id,
        page=page,
        page_size=page_size,
        email=request.params.get("email"),
        archived=_flag_param(request.params, "archived"),
    )
    has_next = page * page_size < count
    return Reply(
        HTTPStatus.OK,
        {
            "results": results,
            "page": page,
            "page_size": page_size,
            "count": count,
            "next": page + 1 if has_next else None,
        },
    )


def get_record(system: System, world: World, request: Request, match: re.Match[str]) -> Reply:
    record = world.get_record(system, match["id"])
    return Reply(HTTPStatus.OK, record) if record else NOT_FOUND


def create_record(system: System, world: World, request: Request, match: re.Match[str]) -> Reply:
    key = request.headers.get("Idempotency-Key") or None
    return Reply.of(world.create_record(system, request.json_object(), key))


def create_records(system: System, world: World, request: Request, match: re.Match[str]) -> Reply:
    """POST <collection>/batch with ``{"records": [{"idempotency_key": "k", "record": {...}},
    ...]}`` (the key optional): each record created in turn exactly as ``POST <collection>``
    with that Idempotency-Key creates it, so a re-sent item replays its first answer, here or
    from a single create. Answers 200 ``{"results": [...]}``, one per record in order:
    ``{"status": 201, "record": {...}}``, or the status and body a single create would have
    refused it with, e.g. ``{"status": 422, "errors": {...}}`` or ``{"status": 409, "errors":
    {...}, "existing_id": "E-..."}``. A malformed batch is refused whole before any record is
    written: 400, or 413 past MAX_BATCH_RECORDS. Faults, latency and chaos strike the batch as
    the one request it is (counted once): nothing of it is written, or all of it with
    ``after_write``."""
    results = []
    for key, body in _batch_items(request.json_object()):
        outcome = world.create_record(system, body, key)
        if outcome.status == HTTPStatus.CREATED:
            results.append({"status": outcome.status, "record": outcome.body})
        else:
            results.append({"status": outcome.status, **outcome.body})
    return Reply(HTTPStatus.OK, {"results": results})


def _batch_items(body: Mapping[str, Any]) -> list[tuple[str | None, Mapping[str, Any]]]:
    """(idempotency key or None, record body) of each item of a batch; HttpError names the
    first thing wrong with it."""
    shape = 'records must be a list of {"idempotency_key": "...", "record": {...}} objects.'
    unknown = [name for name in body if name != "records"]
    if unknown:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"Unknown key {unknown[0]!r}; {shape}")
    items = body.get("records")
    if not isinstance(items, list):
        raise HttpError(HTTPStatus.BAD_REQUEST, shape)
    if len(items) > MAX_BATCH_RECORDS:
        raise HttpError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"A batch holds at most {MAX_BATCH_RECORDS} records; this one has {len(items)}. "
            "Send them in several batches.",
        )
    parsed = []
    for index, item in enumerate(items):
        where = f"records[{index}]"
        if not isinstance(item, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, f"{where} must be a JSON object; {shape}")
        unknown = [name for name in item if name not in BATCH_ITEM_KEYS]
        if unknown:
            raise HttpError(
                HTTPStatus.BAD_REQUEST,
                f"{where}.{unknown[0]}: unknown key; known: {', '.join(BATCH_ITEM_KEYS)}.",
            )
        key, record = item.get("idempotency_key"), item.get("record")
        if key is not None and not isinstance(key, str):
            raise HttpError(HTTPStatus.BAD_REQUEST, f"{where}.idempotency_key must be a string.")
        if not isinstance(record, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, f"{where}.record must be a JSON object.")
        parsed.append((key or None, record))
    return parsed


def update_record(system: System, world: World, request: Request, match: re.Match[str]) -> Reply:
    return Reply.of(world.update_record(system, match["id"], request.json_object()))


def archive_record(system: System, world: World, request: Request, match: re.Match[str]) -> Reply:
    """POST <collection>/<id>/archive; any body is ignored."""
    return Reply.of(world.archive_record(system, match["id"]))


def restore_record(system: System, world: World, request: Request, match: re.Match[str]) -> Reply:
    """POST <collection>/<id>/restore; any body is ignored."""
    return Reply.of(world.restore_record(system, match["id"]))


def delete_record(system: System, world: World, request: Request, match: re.Match[str]) -> Reply:
    outcome = world.delete_record(system, match["id"])
    if outcome.status == HTTPStatus.NO_CONTENT:
        return Reply(HTTPStatus.NO_CONTENT, "")  # a 204 has no body, not even "{}"
    return Reply.of(outcome)


def inject_fault(world: World, request: Request, match: re.Match[str]) -> Reply:
    body = request.json_object()
    system = body.get("system")
    if system not in SYSTEMS:
        raise HttpError(HTTPStatus.BAD_REQUEST, 'system must be "crm" or "erp".')
    retry_after = body.get("retry_after")
    fault = Fault(
        status=_control_int(body.get("status", 503), "status", 400, 599),
        count=_control_int(body.get("count", 1), "count", 0, None),
        retry_after=_optional_control_int(retry_after, "retry_after"),
        after_write=body.get("after_write") is True,
    )
    world.inject_fault(system, fault)
    return Reply(
        HTTPStatus.OK,
        {
            "system": system,
            "status": fault.status,
            "count": fault.count,
            "retry_after": fault.retry_after,
            "after_write": fault.after_write,
        },
    )


def set_latency(world: World, request: Request, match: re.Match[str]) -> Reply:
    """Slow down every later request to one system, e.g. so that a run lasts long enough for a
    fault drill to strike in its middle; /_control/reset takes the latency away."""
    body = request.json_object()
    system = body.get("system")
    if system not in SYSTEMS:
        raise HttpError(HTTPStatus.BAD_REQUEST, 'system must be "crm" or "erp".')
    seconds = _control_seconds(body.get("seconds"), "seconds")
    world.set_latency(system, seconds)
    return Reply(HTTPStatus.OK, {"system": system, "seconds": seconds})


def arm_chaos(world: World, request: Request, match: re.Match[str]) -> Reply:
    """POST /_control/chaos/<kind>: chaos.py describes each kind and its options."""
    try:
        return Reply(HTTPStatus.OK, world.arm_chaos(match["kind"], request.json_object()))
    except ValueError as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from None


def control_auth(world: World, request: Request, match: re.Match[str]) -> Reply:
    """POST /_control/auth with any of the settings of world.Credentials, e.g.
    {"api_key": "k", "token_ttl_requests": 3}: the styles accept these from now on. Answers the
    settings that are not secrets; /_control/reset restores the starting ones."""
    try:
        credentials = world.access.configure(request.json_object())
    except ValueError as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from None
    return Reply(
        HTTPStatus.OK,
        {
            "user": credentials.user,
            "client_id": credentials.client_id,
            "token_ttl_seconds": credentials.token_ttl_seconds,
            "token_ttl_requests": credentials.token_ttl_requests,
        },
    )


def reset(world: World, request: Request, match: re.Match[str]) -> Reply:
    world.reset()
    return Reply(HTTPStatus.OK, {"status": "ok"})


def stats(world: World, request: Request, match: re.Match[str]) -> Reply:
    return Reply(HTTPStatus.OK, world.stats())


@cache
def _routes() -> list[Route]:
    """The route table, built on first use: styles.py imports this module, so this module may
    only import styles.py once both are loaded, whichever of them was imported first."""

    def route(method: str, path: str, handler: Handler) -> Route:
        return Route(method, re.compile(path), handler)

    routes = [
        route("GET", "/health", health),
        route("POST", "/_control/faults", inject_fault),
        route("POST", "/_control/latency", set_latency),
        route("POST", "/_control/chaos/(?P<kind>[a-z_]+)", arm_chaos),
        route("POST", "/_control/auth", control_auth),
        route("POST", "/_control/reset", reset),
        route("GET", "/_control/stats", stats),
    ]
    for system, collection in COLLECTIONS.items():
        base = f"/{system}/api/{collection}"
        item = base + "/(?P<id>[^/]+)"
        routes += [
            route("GET", base, partial(list_records, system)),
            route("POST", base, partial(create_record, system)),
            route("POST", base + "/batch", partial(create_records, system)),
            route("GET", item, partial(get_record, system)),
            route("PUT", item, partial(update_record, system)),
            route("DELETE", item, partial(delete_record, system)),
            route("POST", item + "/archive", partial(archive_record, system)),
            route("POST", item + "/restore", partial(restore_record, system)),
        ]
    from .styles import style_routes

    return routes + [route(method, path, handler) for method, path, handler in style_routes()]


def dispatch(world: World, request: Request) -> Reply:
    allowed = []
    for route in _routes():
        match = route.pattern.fullmatch(request.path)
        if match is None:
            continue
        if route.method == request.method:
            return route.handler(world, request, match)
        allowed.append(route.method)
    if allowed:
        return Reply(
            HTTPStatus.METHOD_NOT_ALLOWED,
            {"detail": "Method not allowed"},
            {"Allow": ", ".join(allowed)},
        )
    return NOT_FOUND


# --- the server ---------------------------------------------------------------------------


_STYLED_SYSTEM = re.compile(r"/styles/[^/]+/(?P<system>crm|erp)(/.*)?")


def _is_exempt_from_token(path: str) -> bool:
    return path == "/health" or path.startswith(("/_control/", "/styles/"))


def _system_of(path: str) -> System | None:
    styled = _STYLED_SYSTEM.fullmatch(path)
    for system in SYSTEMS:
        if path == f"/{system}" or path.startswith(f"/{system}/"):
            return system
        if styled and styled["system"] == system:
            return system
    return None


def _fault_reply(fault: Fault) -> Reply:
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    return Reply(fault.status, {"detail": "Injected fault"}, headers)


def _suffer(mishap: Mishap, world: World, request: Request) -> Reply | None:
    """The reply of a request that meets a mishap (chaos.py); None for no answer at all."""
    if mishap.kind == "status":
        headers = {} if mishap.retry_after is None else {"Retry-After": str(mishap.retry_after)}
        return Reply(mishap.status, {"detail": "Injected fault"}, headers)
    written = dispatch(world, request) if mishap.after_write else None
    if mishap.kind == "drop":
        return None
    time.sleep(mishap.seconds)  # in this request's own thread: other requests go on meanwhile
    return written or dispatch(world, request)


def _query_params(query: str) -> dict[str, str]:
    """The first value of each parameter; blank values kept so that they fail validation."""
    return {name: values[0] for name, values in parse_qs(query, keep_blank_values=True).items()}


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], world: World, token: str | None) -> None:
        self.world = world
        self.token = token
        super().__init__(address, SimulatorHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall for seconds
        # on machines without reverse DNS; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr for every client that hangs up early.
        logger.debug("Connection from %s failed", client_address, exc_info=True)


class SimulatorHandler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "IntegrationConsoleSimulator/1.0"
    timeout = 30  # so that idle keep-alive clients do not hold a thread forever
    # Headers and body go out in two writes; with Nagle on, the body waits for the
    # client's delayed ACK and every request takes some 40 ms.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        reply = self._reply()
        if reply is None:  # a dropped request: close the connection without a word
            self.close_connection = True
        else:
            self._respond(reply)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _reply(self) -> Reply | None:
        try:
            return self._handle()
        except HttpError as exc:
            return Reply(exc.status, {"detail": exc.detail})
        except Exception:
            logger.exception("Simulator failed on %s %s", self.command, self.path)
            return Reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"detail": "Internal error"})

    def _handle(self) -> Reply | None:
        url = urlsplit(self.path)
        path = unquote(url.path).rstrip("/") or "/"
        # Read the body before any early answer: unread bytes would corrupt the next
        # request on a kept-alive connection.
        body = self._read_body()
        world = self.server.world
        system = _system_of(path)
        if system:
            world.count_request(system)
        if not self._authorized(path):
            return Reply(
                HTTPStatus.UNAUTHORIZED,
                {"detail": "Authentication required"},
                {"WWW-Authenticate": "Bearer"},
            )
        if system and (latency := world.latency(system)):
            time.sleep(latency)  # in this request's own thread: other requests go on meanwhile
        params = _query_params(url.query)
        request = Request(self.command, path, params, self.headers, body, self.path)
        if system and (fault := world.take_fault(system)):
            if fault.after_write:
                dispatch(world, request)
            return _fault_reply(fault)
        if system is None:
            return dispatch(world, request)
        mishap = world.chaos.mishap(system)
        reply = _suffer(mishap, world, request) if mishap else dispatch(world, request)
        return replace(reply, body=world.chaos.present(system, reply.body)) if reply else None

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "Send the body with a Content-Length.")
        length = self.headers.get("Content-Length", "0")
        if not _DIGITS.fullmatch(length):
            self.close_connection = True
            raise HttpError(HTTPStatus.BAD_REQUEST, "Invalid Content-Length header.")
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request body too large.")
        return self.rfile.read(int(length))

    def _authorized(self, path: str) -> bool:
        token = self.server.token
        if token is None or _is_exempt_from_token(path):
            return True
        scheme, _, credentials = self.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), token.encode()
        )

    def _respond(self, reply: Reply) -> None:
        if isinstance(reply.body, str):
            payload = reply.body.encode()
        else:
            payload = json.dumps(reply.body, ensure_ascii=False).encode()
        self.send_response(reply.status)
        if reply.status != HTTPStatus.NO_CONTENT:  # a 204 has neither (RFC 9110, 8.6)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server answers requests it cannot parse with an HTML page; keep it JSON.
        self.close_connection = True
        self._respond(Reply(code, {"detail": message or HTTPStatus(code).phrase}))

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


def make_server(
    host: str, port: int, world: World, token: str | None = None
) -> ThreadingHTTPServer:
    """Bind (port 0 picks a free one) without serving yet; call serve_forever() next."""
    return SimulatorServer((host, port), world, token)
