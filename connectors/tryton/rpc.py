"""Tryton's JSON-RPC (8.x) as the connector speaks it: one session, one call, Tryton's values
in plain JSON, and Tryton's answers in the connector error taxonomy.

What this relies on, checked against trytond 8.2:
- ``POST /rpc/`` serves ``common.server.version``; ``POST /<db>/rpc/`` everything else, with a
  body ``{"id", "method", "params"}``. Model methods take a context dict as their last param
  (without it Tryton answers 422).
- ``common.db.login`` with ``[login, {"password": ...}, language]`` answers ``[user_id,
  session, ...]``; later calls carry ``Authorization: Session base64("login:user_id:session")``.
  A wrong password and a session the server no longer knows (expired, logged out) both answer
  401, with an empty or an HTML body.
- Refusals mostly come as HTTP 200 with ``{"error": ...}``: ``["UserError", [message,
  description, domain]]`` for validation, ``[str(exception), traceback]`` for anything else (an
  unknown field or model is a KeyError: ``["'street_nr'", ""]``). HTTP 403 with an HTML body
  means no such method; 422 a malformed call; 503 an unknown database.
- Datetimes travel as ``{"__class__": "datetime", "year": ..., "microsecond": ...}``, naive
  UTC (on SQLite, the server's local time: run it with TZ=UTC); dates, times, timedeltas,
  Decimals and bytes have their own ``__class__``.
"""

from __future__ import annotations

import base64
import html
import itertools
import re
import threading
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from ..errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConnectorError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from ..http import RateLimiter, build_client, raise_for_status

# A UserError raised for a unique constraint, e.g. "The code on party must be unique."
_UNIQUE = re.compile(r"\bmust be unique\b", re.IGNORECASE)
# 'You are trying to read records "999" of "Party" that don't exist.'
_MISSING_RECORDS = re.compile(r"records \"[^\"]*\" of \"[^\"]*\" that don't exist", re.IGNORECASE)
# A KeyError in the server names what it did not know: a field or a model, e.g. "'street_nr'".
_UNKNOWN_NAME = re.compile(r"^'([A-Za-z_][\w.]*)'$")
# Server failures that a later try may not meet.
_PASSING_FAILURES = re.compile(
    r"database is locked|deadlock|could not serialize|connection (refused|reset)|"
    r"server closed the connection|timed? ?out",
    re.IGNORECASE,
)
_HTML_TAGS = re.compile(r"<[^>]+>")


class Waits(Protocol):
    """A rate limiter: ``wait()`` returns once a request may go (``http.RateLimiter``, or one
    shared by a system's connectors)."""

    def wait(self) -> None: ...


class TrytonRPC:
    """A JSON-RPC client holding one Tryton session. It logs in on first use, reuses the
    session until Tryton refuses it (401), then logs in once more before it gives up with an
    AuthenticationError. Thread-safe: callers share the session; one logs in at a time."""

    def __init__(
        self,
        base_url: str,
        *,
        database: str,
        user: str,
        password: str | None,
        language: str = "en",
        timeout: float = 10.0,
        rate_limit_per_second: float | None = None,
        limiter: Waits | None = None,
    ) -> None:
        # No bearer token: the Authorization header is the session's, set per call.
        self.client = build_client(base_url, timeout=timeout)
        self.limiter = limiter if limiter is not None else RateLimiter(rate_limit_per_second)
        self.database, self.user, self.language = database, user, language
        self._password = password
        self._authorization: str | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    @property
    def _database_path(self) -> str:
        return f"{quote(self.database, safe='')}/rpc/"

    def server_version(self) -> str:
        """Tryton's version (``common.server.version``); needs no login."""
        return str(
            self._answer("common.server.version", self._post("rpc/", "common.server.version", []))
        )

    def login(self) -> int:
        """Open a new session (replacing the current one) and return the user's id."""
        with self._lock:
            return self._login()

    def call(self, method: str, *params: Any) -> Any:
        """The result of ``method`` in the database; a model method's context dict must be
        among ``params``. Raises the ConnectorError that matches Tryton's answer."""
        for _ in range(2):
            authorization = self._session()
            response = self._post(self._database_path, method, list(params), authorization)
            if response.status_code != 401:
                return self._answer(method, response)
            # Expired, logged out, or the server restarted: forget it and log in once more.
            with self._lock:
                if self._authorization == authorization:
                    self._authorization = None
        raise AuthenticationError(
            f"Tryton refused {method} even with a session it had just opened for "
            f"{self.user!r} on {self.database!r}.",
            status=401,
        )

    def logout(self) -> None:
        """End the session on the server, if there is one; never raises."""
        with self._lock:
            authorization, self._authorization = self._authorization, None
        if authorization is None:
            return
        try:
            self._post(self._database_path, "common.db.logout", [], authorization)
        except ConnectorError:
            pass

    def close(self) -> None:
        self.logout()
        self.client.close()

    def _session(self) -> str:
        with self._lock:
            if self._authorization is None:
                self._login()
            assert self._authorization is not None  # _login() sets it or raises
            return self._authorization

    def _login(self) -> int:
        if not self._password:
            raise AuthenticationError(
                f"No password for Tryton user {self.user!r}: set the environment variable "
                "the System names."
            )
        method = "common.db.login"
        params = [self.user, {"password": self._password}, self.language]
        response = self._post(self._database_path, method, params)
        if response.status_code in (401, 403):
            raise AuthenticationError(
                f"Tryton refused the login of {self.user!r} on database {self.database!r}: "
                "wrong user or password.",
                status=response.status_code,
                response_body=_text(response),
            )
        if response.status_code == 404:
            # Tryton's answer when it cannot open the database.
            raise ConnectorError(
                f"Tryton has no database {self.database!r} at {response.request.url.host} "
                "(or cannot open it), or the base URL is not Tryton's root.",
                status=404,
                response_body=_text(response),
            )
        result = self._answer(method, response)
        if not (
            isinstance(result, list)
            and len(result) >= 2
            and isinstance(result[0], int)
            and isinstance(result[1], str)
        ):
            raise ConnectorError(
                f"Tryton {method}: expected [user_id, session, ...].", response_body=result
            )
        user_id, session = result[0], result[1]
        credentials = f"{self.user}:{user_id}:{session}".encode()
        self._authorization = "Session " + base64.b64encode(credentials).decode("ascii")
        return user_id

    def _post(
        self, path: str, method: str, params: list[Any], authorization: str | None = None
    ) -> httpx.Response:
        self.limiter.wait()
        body = {"id": next(self._ids), "method": method, "params": params}
        headers = {"Authorization": authorization} if authorization else {}
        try:
            return self.client.post(path, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientError(f"Tryton {method}: timed out ({exc.__class__.__name__}).") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"Tryton {method}: {exc.__class__.__name__}: {exc}.") from exc

    def _answer(self, method: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status == 200:
            body = _json(method, response)
            if isinstance(body, dict) and body.get("error") is not None:
                raise tryton_error(method, body["error"])
            if isinstance(body, dict) and "result" in body:
                return body["result"]
            raise ConnectorError(
                f"Tryton {method}: answered 200 without a JSON-RPC result.",
                status=status,
                response_body=body,
            )
        text = _text(response)
        common: dict[str, Any] = {"status": status, "response_body": text}
        if status == 401:
            raise AuthenticationError(
                f"Tryton {method}: 401 Unauthorized: the session or the credentials were refused.",
                **common,
            )
        if status == 403:
            raise ConnectorError(
                f"Tryton {method}: 403 Forbidden: Tryton has no such method, or not one that "
                "may be called remotely.",
                **common,
            )
        if status == 404:
            raise ConnectorError(
                f"Tryton {method}: nothing answers at {response.request.url.path}: is the "
                "base URL Tryton's root?",
                **common,
            )
        if status == 503 and "doesn't exist" in text:
            raise ConnectorError(f"Tryton has no database {self.database!r}: {text}", **common)
        if status in (400, 422):
            raise ConnectorError(
                f"Tryton {method}: {status}: Tryton could not read the call: {text}", **common
            )
        raise_for_status(response)  # 429 and 5xx are transient, the rest refusals
        raise ConnectorError(f"Tryton {method}: unexpected HTTP {status}.", **common)


def tryton_error(method: str, error: Any) -> ConnectorError:
    """The connector error for the ``error`` member of a JSON-RPC answer."""
    common: dict[str, Any] = {"status": 200, "response_body": {"error": _short(error)}}
    if isinstance(error, list) and len(error) == 2 and isinstance(error[1], list):
        kind, args = error[0], [str(a) if a is not None else "" for a in error[1]]
        if kind == "UserError" and args:
            message = args[0] + (f" {args[1]}" if len(args) > 1 and args[1] else "")
            if _UNIQUE.search(args[0]):
                return AlreadyExistsError(message, **common)
            if _MISSING_RECORDS.search(args[0]):
                return NotFoundError(message, **common)
            return RejectedError(message, **common)
        if kind == "UserWarning" and len(args) >= 2:
            return RejectedError(
                f"Tryton asks for a confirmation the console cannot give: {args[1]}", **common
            )
        if kind == "LoginException":
            return AuthenticationError(
                f"Tryton asks for more than a password to log in: {' '.join(args[1:2])}",
                **common,
            )
        if kind in ("ConcurrencyException", "RateLimitException"):
            return TransientError(f"Tryton {method}: {kind}: {' '.join(args)}", **common)
    if isinstance(error, list) and error and isinstance(error[0], str):
        message = error[0]
        unknown = _UNKNOWN_NAME.match(message)
        model = _model_of(method)
        if unknown and unknown[1] == model:
            return ConnectorError(
                f"Tryton has no model {model!r}: is its module activated?", **common
            )
        if unknown:
            name = unknown[1]
            return RejectedError(
                f"Tryton has no field {name!r} in {model or 'this model'}.",
                field_errors={name: ["Tryton has no such field."]},
                **common,
            )
        if _PASSING_FAILURES.search(message):
            return TransientError(f"Tryton {method}: {message}", **common)
        return ConnectorError(f"Tryton failed on {method}: {message}", **common)
    return ConnectorError(f"Tryton {method}: an error Tryton does not usually send.", **common)


def from_tryton(value: Any) -> Any:
    """``value`` with Tryton's ``__class__`` objects made plain JSON: datetimes as ISO 8601
    UTC with microseconds and a Z, dates and times as ISO 8601, Decimals as strings (exact),
    timedeltas as seconds, bytes as base64."""
    if isinstance(value, list):
        return [from_tryton(item) for item in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("__class__")
    if kind == "datetime":
        return iso_utc(value)
    if kind == "date":
        return f"{value['year']:04d}-{value['month']:02d}-{value['day']:02d}"
    if kind == "time":
        moment = f"{value['hour']:02d}:{value['minute']:02d}:{value['second']:02d}"
        return moment + (f".{value['microsecond']:06d}" if value.get("microsecond") else "")
    if kind == "Decimal":
        return str(value["decimal"])
    if kind == "timedelta":
        return value["seconds"]
    if kind == "bytes":
        return str(value["base64"]).replace("\n", "")
    return {key: from_tryton(item) for key, item in value.items()}


def iso_utc(value: dict[str, Any]) -> str:
    """A Tryton datetime (naive UTC) as ISO 8601 UTC, e.g. 2026-11-26T10:00:00.123456Z."""
    moment = datetime(
        value["year"],
        value["month"],
        value["day"],
        value["hour"],
        value["minute"],
        value["second"],
        value.get("microsecond", 0),
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_tryton_datetime(text: str) -> dict[str, Any]:
    """An ISO 8601 moment (with an offset or a Z; naive means UTC) as a Tryton datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return {
        "__class__": "datetime",
        "year": moment.year,
        "month": moment.month,
        "day": moment.day,
        "hour": moment.hour,
        "minute": moment.minute,
        "second": moment.second,
        "microsecond": moment.microsecond,
    }


def _model_of(method: str) -> str | None:
    """``party.party`` for ``model.party.party.create``."""
    if method.startswith("model.") and method.count(".") >= 2:
        return method[len("model.") : method.rindex(".")]
    return None


def _json(method: str, response: httpx.Response) -> Any:
    if not response.content:
        raise ConnectorError(
            f"Tryton {method}: answered {response.status_code} with an empty body.",
            status=response.status_code,
        )
    try:
        return response.json()
    except ValueError as exc:
        what = "HTML" if "<html" in response.text[:500].lower() else "a body that is not JSON"
        raise ConnectorError(
            f"Tryton {method}: answered {response.status_code} with {what}, not JSON-RPC: is "
            f"the base URL Tryton's root? ({_text(response)[:200]})",
            status=response.status_code,
            response_body=response.text[:2000],
        ) from exc


def _text(response: httpx.Response) -> str:
    """The gist of a non-JSON answer: the paragraph of Tryton's (werkzeug's) HTML error page,
    or the start of the body."""
    body = response.text
    paragraphs = re.findall(r"<p>(.*?)</p>", body, re.DOTALL)
    text = " ".join(paragraphs) if paragraphs else _HTML_TAGS.sub(" ", body)
    return " ".join(html.unescape(text).split())[:500]


def _short(error: Any) -> Any:
    """The error as Tryton sent it, with a traceback cut to its last lines."""
    if isinstance(error, list) and len(error) == 2 and isinstance(error[1], str):
        return [error[0], error[1][-2000:]]
    return error
